// The server's primary addresses: the ones on the interface of the default route, IPv4 and IPv6
// (the main table, from /proc/net/route and /proc/net/ipv6_route: what the panel should show as
// "the IP"). Policy routing in other tables is not looked at.

import { ipv4FromHex } from '../facts/network';
import type { Host } from '../os/host';

const RTF_UP = 0x1, RTF_REJECT = 0x200;
/** An ipv6_route line of a default route starts with destination :: and prefix length 0. */
const V6_DEFAULT = `${'0'.repeat(32)} 00 `;

export interface Primary { iface: string; address: string; prefix: number }

export interface Primaries { ipv4: Primary | null; ipv6: Primary | null }

/** A default route as the tables hold it; the IPv4 gateway stays hex until it is needed. */
interface DefaultRoute { iface: string; metric: number; gatewayHex: string }

/**
 * The usable default route of one family with the lowest metric (the first of equals, in the
 * table's order): up, not a reject route, not on loopback. Only the default routes' lines are
 * split (a router's table can be long), and no address is converted to text.
 */
function defaultRoute(host: Host, version: 4 | 6): DefaultRoute | null {
  let best: DefaultRoute | null = null;
  const take = (iface: string, flags: number, metric: number, gatewayHex: string): void => {
    if (!(flags & RTF_UP) || flags & RTF_REJECT || iface === 'lo' || !(metric >= 0)) return;
    if (!best || metric < best.metric) best = { iface, metric, gatewayHex };
  };
  if (version === 4) {
    // Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT, hex addresses.
    for (const line of (host.readProc('/proc/net/route') ?? '').split('\n')) {
      if (!/^\S+\s+00000000\s/.test(line)) continue;
      const f = line.trim().split(/\s+/);
      if (f.length >= 11 && f[7] === '00000000') take(f[0], parseInt(f[3], 16), Number(f[6]), f[2]);
    }
  } else {
    // Destination, its prefix, source, its prefix, next hop, metric, refcnt, use, flags, device.
    for (const line of (host.readProc('/proc/net/ipv6_route') ?? '').split('\n')) {
      if (!line.startsWith(V6_DEFAULT)) continue;
      const f = line.trim().split(/\s+/);
      if (f.length >= 10) take(f[9], parseInt(f[8], 16), parseInt(f[5], 16), '');
    }
  }
  return best;
}

const v4int = (a: string): number => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);

function sameV4Net(a: string, b: string, prefix: number): boolean {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return ((v4int(a) & mask) >>> 0) === ((v4int(b) & mask) >>> 0);
}

/** Address and prefix of each address of IFACE, of one family, in the kernel's order (primary first). */
function addressesOf(host: Host, iface: string, version: 4 | 6): Array<{ address: string; prefix: number }> {
  return (host.addresses()[iface] ?? [])
    .filter((a) => (a.family === 'IPv4' || (a.family as unknown) === 4 ? 4 : 6) === version)
    .map((a) => ({ address: a.address.split('%')[0], prefix: Number((a.cidr ?? '/0').split('/')[1]) }));
}

/** The interfaces of the IPv4 and the IPv6 default route (the same one twice at most once). */
export function defaultRouteInterfaces(host: Host): string[] {
  return [...new Set([defaultRoute(host, 4)?.iface, defaultRoute(host, 6)?.iface].filter((x): x is string => !!x))];
}

export function primaryAddresses(host: Host): Primaries {
  const out: Primaries = { ipv4: null, ipv6: null };
  const r4 = defaultRoute(host, 4);
  if (r4) {
    const gateway = ipv4FromHex(r4.gatewayHex);
    const all = addressesOf(host, r4.iface, 4).filter((a) => !a.address.startsWith('169.254.'));
    // The kernel's source for the gateway: an address of the gateway's subnet, else the first.
    const pick = all.find((a) => gateway !== '0.0.0.0' && sameV4Net(a.address, gateway, a.prefix)) ?? all[0];
    if (pick) out.ipv4 = { iface: r4.iface, ...pick };
  }
  const r6 = defaultRoute(host, 6);
  if (r6) {
    const pick = addressesOf(host, r6.iface, 6).find((a) => !/^fe[89ab]/i.test(a.address));
    if (pick) out.ipv6 = { iface: r6.iface, ...pick };
  }
  return out;
}

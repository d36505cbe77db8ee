// The server's primary addresses: the ones on the interface of the default route, IPv4 and IPv6
// (the main table, from /proc/net/route and /proc/net/ipv6_route: what the panel should show as
// "the IP"). Policy routing in other tables is not looked at.

import { parseRoutes } from '../facts/network';
import type { Host } from '../os/host';

const RTF_UP = 0x1, RTF_REJECT = 0x200;
/** An ipv6_route line of a default route starts with destination :: and prefix length 0. */
const V6_DEFAULT = `${'0'.repeat(32)} 00 `;

export interface Primary { iface: string; address: string; prefix: number }

export interface Primaries { ipv4: Primary | null; ipv6: Primary | null }

interface Route { iface: string; destination: string; mask?: string; desprefixlen?: string; metric: number; flags: number; gateway?: string; nexthop?: string; version: number }

function defaultRoute(routes: Route[], version: 4 | 6): Route | null {
  const defaults = routes.filter((r) => r.version === version && r.destination === (version === 4 ? '0.0.0.0' : '::')
    && (version === 4 ? r.mask === '0.0.0.0' : r.desprefixlen === '0') && r.flags & RTF_UP && !(r.flags & RTF_REJECT) && r.iface !== 'lo');
  return defaults.sort((a, b) => a.metric - b.metric)[0] ?? null;
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

/** The default routes only (destination 0, prefix 0), picked before parsing: a router's table can be long. */
function readRoutes(host: Host): Route[] {
  const v4 = (host.readProc('/proc/net/route') ?? '').split('\n').filter((line, i) => i === 0 || /^\S+\s+00000000\s/.test(line));
  const v6 = (host.readProc('/proc/net/ipv6_route') ?? '').split('\n').filter((line) => line.startsWith(V6_DEFAULT));
  return parseRoutes(v4.join('\n'), v6.join('\n')) as unknown as Route[];
}

/** The interfaces of the IPv4 and the IPv6 default route (the same one twice at most once). */
export function defaultRouteInterfaces(host: Host): string[] {
  const routes = readRoutes(host);
  return [...new Set([defaultRoute(routes, 4)?.iface, defaultRoute(routes, 6)?.iface].filter((x): x is string => !!x))];
}

export function primaryAddresses(host: Host): Primaries {
  const routes = readRoutes(host);
  const out: Primaries = { ipv4: null, ipv6: null };
  const r4 = defaultRoute(routes, 4);
  if (r4) {
    const all = addressesOf(host, r4.iface, 4).filter((a) => !a.address.startsWith('169.254.'));
    // The kernel's source for the gateway: an address of the gateway's subnet, else the first.
    const pick = all.find((a) => r4.gateway !== '0.0.0.0' && sameV4Net(a.address, r4.gateway!, a.prefix)) ?? all[0];
    if (pick) out.ipv4 = { iface: r4.iface, ...pick };
  }
  const r6 = defaultRoute(routes, 6);
  if (r6) {
    const pick = addressesOf(host, r6.iface, 6).find((a) => !/^fe[89ab]/i.test(a.address));
    if (pick) out.ipv6 = { iface: r6.iface, ...pick };
  }
  return out;
}

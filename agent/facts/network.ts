// guest-network-get-interfaces and guest-network-get-route: interfaces and their counters from
// /proc/net/dev (in ifindex order, from sysfs), addresses from getifaddrs, routes from
// /proc/net/route and /proc/net/ipv6_route, in qemu-ga's shapes.

import type * as os from 'os';
import type { HeldAttribute, Host } from '../os/host';

const IFF_UP = 0x1;

export interface NetDev { rxBytes: number; rxPackets: number; rxErrs: number; rxDrop: number; txBytes: number; txPackets: number; txErrs: number; txDrop: number }

/** /proc/net/dev: "  eth0: rxbytes rxpackets errs drop fifo frame compressed multicast txbytes txpackets errs drop ...". */
export function parseNetDev(text: string): Map<string, NetDev> {
  const out = new Map<string, NetDev>();
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (f.length < 12) continue;
    out.set(line.slice(0, colon).trim(), { rxBytes: f[0], rxPackets: f[1], rxErrs: f[2], rxDrop: f[3], txBytes: f[8], txPackets: f[9], txErrs: f[10], txDrop: f[11] });
  }
  return out;
}

/**
 * What an interface's sysfs node keeps while it exists, by name and sysfs identity (an interface
 * re-created under the same name is a new node): its ifindex, and whether it is a software device,
 * learnt when first asked. A stat per interface and call instead of a read and a readlink. The
 * attributes read at every call (the hardware address and flags of an interface getifaddrs leaves
 * out) stay open while the device is listed, for the first HELD_DEVICES devices.
 */
interface NodeFacts { index: number; learnt?: Map<string, unknown>; attrs?: Map<string, HeldAttribute> }
const known = new WeakMap<Host, Map<string, NodeFacts>>();
// The facts of the last listing by name: ordering that listing's rows needs no second stat.
const listed = new WeakMap<Host, Map<string, NodeFacts>>();
const MAX_INDEXES = 256;
const HELD_DEVICES = 64;

function factsOf(host: Host, name: string): NodeFacts {
  const id = host.identity(`/sys/class/net/${name}`);
  let cache = known.get(host);
  if (!cache) known.set(host, cache = new Map());
  const key = `${name} ${id}`;
  const facts = id === null ? undefined : cache.get(key);
  if (facts) return facts;
  const fresh: NodeFacts = { index: Number(host.readAttribute(`/sys/class/net/${name}/ifindex`) ?? NaN) };
  if (id !== null && cache.size < MAX_INDEXES) {
    if (cache.size < HELD_DEVICES) fresh.attrs = new Map();
    cache.set(key, fresh);
  }
  return fresh;
}

/** NAMES, interfaces of this network namespace, in qemu-ga's order (getifaddrs: by ifindex). */
export function interfaceNames(host: Host, names: Iterable<string>): string[] {
  const facts = new Map([...names].map((name) => [name, factsOf(host, name)]));
  listed.set(host, facts);
  // A device no longer listed (gone, renamed, re-created) is forgotten, and its attributes closed.
  const live = new Set(facts.values());
  const cache = known.get(host)!;
  for (const [key, f] of cache) {
    if (live.has(f)) continue;
    for (const a of f.attrs?.values() ?? []) a.close();
    cache.delete(key);
  }
  return [...facts].sort(([a, x], [b, y]) => (x.index - y.index) || a.localeCompare(b)).map(([name]) => name);
}

/** An attribute of the listed device NAME: through its held descriptor, else by path. */
function attribute(host: Host, name: string, which: 'address' | 'flags'): string | null {
  const attrs = listed.get(host)?.get(name)?.attrs;
  if (!attrs) return host.readAttribute(`/sys/class/net/${name}/${which}`);
  let a = attrs.get(which);
  if (!a) attrs.set(which, a = host.heldAttribute(`/sys/class/net/${name}/${which}`));
  return a.read();
}

/**
 * What COMPUTE says about the device NAME, which does not change while the device exists (what it
 * is): kept in the facts of the last listing, which the rows being ordered come from, so asked
 * once per device; for a name that listing did not hold, asked each time.
 */
export function learntOnce<T>(host: Host, name: string, what: string, compute: () => T): T {
  const facts = listed.get(host)?.get(name);
  if (facts?.learnt?.has(what)) return facts.learnt.get(what) as T;
  const value = compute();
  if (facts) (facts.learnt ??= new Map()).set(what, value);
  return value;
}

/** NAME's device is a software one (under /sys/devices/virtual), or gone. */
export function isVirtualInterface(host: Host, name: string): boolean {
  return learntOnce(host, name, 'virtual', () => (host.link(`/sys/class/net/${name}`) ?? '/virtual/').includes('/virtual/'));
}

function prefixOf(cidr: string | null | undefined): number | undefined {
  const p = cidr ? Number(cidr.split('/')[1]) : NaN;
  return Number.isInteger(p) ? p : undefined;
}

/**
 * The hardware address as qemu-ga reports it (SIOCGIFHWADDR): the first six bytes, zeros where
 * the device has fewer (none on a tun device, four on ipip). getifaddrs has it for an interface
 * that is up (libuv copies the same six bytes); sysfs for the others. Undefined once it is gone.
 */
function hardwareAddress(host: Host, name: string, up: os.NetworkInterfaceInfo | undefined): string | undefined {
  if (up) return up.mac;
  const text = attribute(host, name, 'address')?.trim();
  if (text === undefined) return undefined;
  const bytes = text ? text.split(':') : [];
  return Array.from({ length: 6 }, (_, i) => bytes[i] ?? '00').join(':');
}

export function interfaces(host: Host): Array<Record<string, unknown>> {
  const addrs = host.addresses();
  // The interfaces are the lines of /proc/net/dev, read anyway for the counters. It lists the
  // devices of the reader's network namespace, as getifaddrs does; /sys/class/net lists those of
  // the namespace sysfs was mounted in, and costs a directory read.
  const stats = parseNetDev(host.readProc('/proc/net/dev') ?? '');
  return interfaceNames(host, stats.keys()).map((name) => {
    const row: Record<string, unknown> = { name };
    const mac = hardwareAddress(host, name, addrs[name]?.[0]);
    if (mac) row['hardware-address'] = mac;
    const ips = (addrs[name] ?? []).map((a) => ({
      'ip-address-type': a.family === 'IPv4' || (a.family as unknown) === 4 ? 'ipv4' : 'ipv6',
      'ip-address': a.address,
      prefix: prefixOf(a.cidr),
    }));
    if (ips.length) row['ip-addresses'] = ips;
    const s = stats.get(name);
    // An interface with addresses from getifaddrs is up (libuv lists only those up and running).
    if (s && (ips.length || parseInt(attribute(host, name, 'flags') ?? '0', 16) & IFF_UP)) {
      row.statistics = {
        'rx-bytes': s.rxBytes, 'rx-packets': s.rxPackets, 'rx-errs': s.rxErrs, 'rx-dropped': s.rxDrop,
        'tx-bytes': s.txBytes, 'tx-packets': s.txPackets, 'tx-errs': s.txErrs, 'tx-dropped': s.txDrop,
      };
    }
    return row;
  });
}

/** /proc/net/route holds addresses as host-order (little-endian) hex. */
export function ipv4FromHex(h: string): string {
  const n = parseInt(h, 16) >>> 0;
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.');
}

/** 32 hex digits to the shortest text form (inet_ntop). */
export function ipv6FromHex(h: string): string {
  const groups = (h.match(/.{4}/g) ?? []).map((g) => parseInt(g, 16));
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  // An IPv4-mapped or -compatible address keeps its dotted tail, as inet_ntop writes it.
  if (best === 0 && (bestLen === 6 || (bestLen === 5 && groups[5] === 0xffff))) {
    const v4 = `${groups[6] >> 8}.${groups[6] & 0xff}.${groups[7] >> 8}.${groups[7] & 0xff}`;
    if (bestLen === 5) return `::ffff:${v4}`;
    if (groups[6] !== 0) return `::${v4}`;
  }
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export function parseRoutes(v4: string, v6: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of v4.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 11) continue;
    out.push({
      iface: f[0], destination: ipv4FromHex(f[1]), gateway: ipv4FromHex(f[2]), mask: ipv4FromHex(f[7]),
      metric: Number(f[6]), flags: parseInt(f[3], 16), refcnt: Number(f[4]), use: Number(f[5]),
      mtu: Number(f[8]), window: Number(f[9]), irtt: Number(f[10]), version: 4,
    });
  }
  for (const line of v6.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    out.push({
      iface: f[9], destination: ipv6FromHex(f[0]), metric: parseInt(f[5], 16), source: ipv6FromHex(f[2]),
      desprefixlen: String(parseInt(f[1], 16)), srcprefixlen: String(parseInt(f[3], 16)), nexthop: ipv6FromHex(f[4]),
      flags: parseInt(f[8], 16), refcnt: parseInt(f[6], 16), use: parseInt(f[7], 16), version: 6,
    });
  }
  return out;
}

export function routes(host: Host): Array<Record<string, unknown>> {
  return parseRoutes(host.readProc('/proc/net/route') ?? '', host.readProc('/proc/net/ipv6_route') ?? '');
}

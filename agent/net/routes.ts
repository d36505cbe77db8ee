// Routes of one interface in the main table, through iproute2 (`ip -o route show dev IFACE`), and
// changing them. Routes the kernel, router advertisements or a DHCP client made are theirs: they
// are listed as "managed: false" and never added or removed here (they follow the addresses).

import type { System } from '../os/system';
import { QgaError } from '../wire/reply';

export interface Route {
  family: 4 | 6;
  /** "default" or a prefix as ip prints it. */
  to: string;
  via?: string;
  metric?: number;
  proto?: string;
  scope?: string;
  src?: string;
  onlink?: boolean;
}

const NOT_OURS = new Set(['kernel', 'ra', 'dhcp', 'redirect']);
const TYPES = /^(unicast|local|broadcast|multicast|throw|unreachable|prohibit|blackhole|nat|anycast)$/;

/** A route another mechanism keeps (the kernel for an address's subnet, SLAAC, DHCP). */
export const managed = (r: Route): boolean => !NOT_OURS.has(r.proto ?? 'boot');

/** "default via 10.0.0.1 proto static metric 100 onlink" and the like; other route types are skipped. */
export function parseRoutes(text: string, family: 4 | 6): Route[] {
  const out: Route[] = [];
  for (const line of text.split('\n')) {
    const t = line.replace(/\\/g, ' ').trim().split(/\s+/).filter(Boolean);
    if (!t.length || TYPES.test(t[0])) continue;
    const r: Route = { family, to: t[0] };
    for (let i = 1; i < t.length; i++) {
      const k = t[i], v = t[i + 1];
      if (k === 'via' && v) { r.via = v.replace(/^inet6? /, ''); i++; }
      else if (k === 'metric' && v) { r.metric = Number(v); i++; }
      else if ((k === 'proto' || k === 'scope' || k === 'src') && v) { r[k] = v; i++; }
      else if (k === 'onlink') r.onlink = true;
      // Other attributes (pref, mtu, expires...) are skipped with their value; flags (linkdown, dead) alone.
      else if (!/^(linkdown|dead|offload|trap|pervasive|notify|rt_offload|rt_trap)$/.test(k)) i++;
    }
    out.push(r);
  }
  return out;
}

function ip(sys: System): string {
  return sys.which('ip') ?? (() => { throw new QgaError('GenericError', "cannot find 'ip' program (iproute2)"); })();
}

export async function liveRoutes(sys: System, iface: string): Promise<Route[]> {
  const out: Route[] = [];
  for (const family of [4, 6] as const) {
    const r = await sys.run(ip(sys), [`-${family}`, '-o', 'route', 'show', 'dev', iface, 'table', 'main'], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new QgaError('GenericError', `ip -${family} route show dev ${iface} failed: ${r.stderr.trim().slice(0, 300)}`);
    out.push(...parseRoutes(r.stdout, family));
  }
  return out;
}

/** What identifies a route to the kernel for `ip route del`: destination, gateway, metric. */
export const routeKey = (r: Route): string => `${r.family} ${r.to} ${r.via ?? '-'} ${r.metric ?? '-'}`;

export async function changeRoute(sys: System, iface: string, r: Route, present: boolean): Promise<void> {
  const args = [`-${r.family}`, 'route', present ? 'add' : 'del', r.to];
  if (r.via) args.push('via', r.via);
  args.push('dev', iface);
  if (r.metric !== undefined) args.push('metric', String(r.metric));
  if (present) {
    if (r.proto && r.proto !== 'boot') args.push('proto', r.proto);
    if (r.scope && r.scope !== 'global' && !r.via) args.push('scope', r.scope);
    if (r.src) args.push('src', r.src);
    if (r.onlink) args.push('onlink');
  }
  const res = await sys.run(ip(sys), args, { timeoutMs: 10_000 });
  if (res.code !== 0) throw new QgaError('GenericError', `ip ${args.join(' ')} failed: ${res.stderr.trim().slice(0, 300)}`);
}

/** The interface and gateway the kernel would use for TARGET (`ip route get`); null when there is no route. */
export async function routeTo(sys: System, target: string): Promise<{ dev: string; via: string | null } | null> {
  const r = await sys.run(ip(sys), ['-o', 'route', 'get', target], { timeoutMs: 10_000 });
  if (r.code !== 0) return null;
  const dev = /\bdev (\S+)/.exec(r.stdout)?.[1];
  return dev ? { dev, via: /\bvia (?:inet6? )?(\S+)/.exec(r.stdout)?.[1] ?? null } : null;
}

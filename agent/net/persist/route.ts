// Static routes as the configuration files write them, read back into the caller's canonical form
// (the one agent/net/routes.ts reads from `ip route`: 'default', a host address alone, or
// ADDRESS/PREFIX), and the one decision every renderer shares: given the routes configured for an
// interface, what ensureRoute() has to do. A gateway is a 'default' route through it.

import { canonical } from './address';
import { PersistError, type PersistRoute, type RendererName } from './types';

export const routeText = (r: PersistRoute): string => `${r.to}${r.via ? ` via ${r.via}` : ''}${r.metric !== undefined ? ` metric ${r.metric}` : ''}`;

/** The metric the kernel gives a route written without one: 0 for IPv4, 1024 for IPv6. */
const metricOf = (r: PersistRoute): number => r.metric ?? (r.family === 4 ? 0 : 1024);

/** Whether A and B are one route to the kernel (destination, gateway, metric). */
export const sameRoute = (a: PersistRoute, b: PersistRoute): boolean =>
  a.family === b.family && a.to === b.to && (a.via ?? '') === (b.via ?? '') && metricOf(a) === metricOf(b);

/** Destination as a file writes it: ADDRESS/PREFIX always (a host route with /32 or /128), 'default' as DEFAULT says. */
export function destinationText(r: PersistRoute, defaultAs = 'default'): string {
  if (r.to === 'default') return defaultAs;
  return r.to.includes('/') ? r.to : `${r.to}/${r.family === 4 ? 32 : 128}`;
}

/** "default", "0.0.0.0/0", "::/0", "10.0.0.0/8" or "10.1.2.3" as the canonical destination; null when it does not parse. */
export function parseDestination(text: string, family?: 4 | 6): { to: string; family: 4 | 6 } | null {
  const t = text.trim();
  if (t === 'default') return family ? { to: 'default', family } : null;
  const [host, len, extra] = t.split('/');
  const c = canonical(host);
  if (!c || extra !== undefined || (family && c.family !== family)) return null;
  const max = c.family === 4 ? 32 : 128;
  const prefix = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : -1;
  if (prefix < 0 || prefix > max) return null;
  if (prefix === 0) return { to: 'default', family: c.family };
  return { to: prefix === max ? c.address : `${c.address}/${prefix}`, family: c.family };
}

/** A route read from a file: destination text, gateway text and metric; null when any part does not parse. */
export function parseRoute(iface: string, to: string, via: string | undefined, metric: string | undefined, family?: 4 | 6): PersistRoute | null {
  const gw = via ? canonical(via) : null;
  if (via && !gw) return null;
  const d = parseDestination(to, family ?? gw?.family);
  if (!d || (gw && gw.family !== d.family)) return null;
  if (metric !== undefined && !/^\d{1,10}$/.test(metric)) return null;
  return { iface, family: d.family, to: d.to, ...(gw ? { via: gw.address } : {}), ...(metric !== undefined ? { metric: Number(metric) } : {}) };
}

/** One configured route and where it is; FIXED says why it may not be removed (undefined: it may). */
export interface RouteEntry { route: PersistRoute; file: string; ours: boolean; fixed?: string }

export type RouteStep = { kind: 'none'; file: string } | { kind: 'add' } | { kind: 'remove'; entries: RouteEntry[] };

/** What ensureRoute(ROUTE, PRESENT) must do given ENTRIES (what is configured for the interface); TARGET is where we add. */
export function planRoute(renderer: RendererName, entries: RouteEntry[], route: PersistRoute, present: boolean, target: string): RouteStep {
  const same = entries.filter((e) => sameRoute(e.route, route));
  if (present) {
    if (same.length) return { kind: 'none', file: same[0].file };
    // The kernel keys a route by destination and metric: another gateway for that key in a file we
    // may not edit would fail at boot (netplan merely warns, and renders both).
    const clash = entries.find((e) => e.fixed !== undefined && e.route.family === route.family && e.route.to === route.to && metricOf(e.route) === metricOf(route));
    if (clash) {
      throw new PersistError(`${renderer}: ${routeText(route)} on ${route.iface}: ${clash.file} already configures ${routeText(clash.route)} (${clash.fixed}); refusing to edit it, change that file by hand`, clash.file);
    }
    return { kind: 'add' };
  }
  if (!same.length) return { kind: 'none', file: target };
  const fixed = same.find((e) => e.fixed !== undefined);
  if (fixed) {
    throw new PersistError(`${renderer}: the route ${routeText(route)} of ${route.iface} is configured in ${fixed.file} (${fixed.fixed}); refusing to edit it, change that file by hand`, fixed.file);
  }
  return { kind: 'remove', entries: same };
}

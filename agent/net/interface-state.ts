// The live state of one interface that a network transaction sets and restores: its static
// addresses and the routes the configuration made (agent/net/routes.ts `managed`). Leases (DHCP,
// SLAAC), link-local addresses and the kernel's own routes are left to whoever keeps them.
// Applying and reverting are the same operation: converge the interface to a state.

import type { System } from '../os/system';
import { QgaError } from '../wire/reply';
import { CheckedAddress } from './address';
import { changeLive, liveAddresses } from './live';
import { changeRoute, liveRoutes, managed, Route, routeKey } from './routes';

export interface Addr { address: string; prefix: number; family: 4 | 6 }

export interface InterfaceState { addresses: Addr[]; routes: Route[] }

export interface ConvergeReport {
  addresses: { added: string[]; removed: string[] };
  routes: { added: string[]; removed: string[] };
  /** Only when converging leniently (a revert): what could not be done. */
  errors: string[];
}

export const cidrOf = (a: Addr): string => `${a.address}/${a.prefix}`;
const isLinkLocal = (a: Addr): boolean => (a.family === 6 ? /^fe[89ab]/.test(a.address) : a.address.startsWith('169.254.'));
export const routeText = (r: Route): string => `${r.to}${r.via ? ` via ${r.via}` : ''}${r.metric !== undefined ? ` metric ${r.metric}` : ''}`;

export async function readInterface(sys: System, iface: string): Promise<InterfaceState> {
  const addresses = (await liveAddresses(sys, iface))
    .filter((a) => a.iface === iface && !a.dynamic && !isLinkLocal(a))
    .map((a) => ({ address: a.address, prefix: a.prefix, family: a.family }));
  const routes = (await liveRoutes(sys, iface)).filter(managed);
  return { addresses, routes };
}

/**
 * Makes IFACE's static addresses and managed routes exactly TARGET's. Addresses are added before
 * routes are removed and removed before routes are added: a route through a gateway needs an
 * address on the gateway's subnet, and the kernel drops such routes when that address goes.
 * STRICT: the first failure throws (the caller reverts); else every step is tried and failures
 * are listed.
 */
export async function convergeInterface(sys: System, iface: string, target: InterfaceState, strict: boolean): Promise<ConvergeReport> {
  const report: ConvergeReport = { addresses: { added: [], removed: [] }, routes: { added: [], removed: [] }, errors: [] };
  const step = async (what: () => Promise<void>, done: () => void): Promise<void> => {
    try { await what(); done(); } catch (e) {
      if (strict) throw e;
      report.errors.push(e instanceof QgaError ? e.desc : (e as Error).message);
    }
  };
  const as = (a: Addr): CheckedAddress => ({ iface, ...a });
  const has = (list: Addr[], a: Addr): boolean => list.some((x) => x.address === a.address && x.prefix === a.prefix);
  const now = await readInterface(sys, iface);
  for (const a of target.addresses) if (!has(now.addresses, a)) await step(() => changeLive(sys, as(a), true), () => report.addresses.added.push(cidrOf(a)));
  const wanted = new Set(target.routes.map(routeKey));
  for (const r of (await liveRoutes(sys, iface)).filter(managed)) {
    if (!wanted.has(routeKey(r))) await step(() => changeRoute(sys, iface, r, false), () => report.routes.removed.push(routeText(r)));
  }
  for (const a of now.addresses) if (!has(target.addresses, a)) await step(() => changeLive(sys, as(a), false), () => report.addresses.removed.push(cidrOf(a)));
  const present = new Set((await liveRoutes(sys, iface)).map(routeKey));
  for (const r of target.routes) if (!present.has(routeKey(r))) await step(() => changeRoute(sys, iface, r, true), () => report.routes.added.push(routeText(r)));
  return report;
}

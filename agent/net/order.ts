// The order of guest-network-get-interfaces (config key interfaces-order). Proxmox's summary,
// libvirt's domifaddr users and most panel scripts take the first address they find, so with
// real-first the interface of the default route comes first, then the other real NICs, then the
// rest in the kernel's order; real-only also leaves out loopback and the software devices.

import type { Host } from '../os/host';
import { realInterfaces } from './classify';
import { defaultRouteInterfaces } from './primary';

export type InterfacesOrder = 'as-is' | 'real-first' | 'real-only';

export const DEFAULT_INTERFACES_ORDER: InterfacesOrder = 'real-first';

export function orderInterfaces<T extends { name: string }>(host: Host, rows: T[], order: InterfacesOrder | undefined): T[] {
  const mode = order ?? DEFAULT_INTERFACES_ORDER;
  if (mode === 'as-is') return rows;
  const real = realInterfaces(host, rows.map((r) => r.name));
  const primary = defaultRouteInterfaces(host);
  const rank = (r: T): number => {
    const i = primary.indexOf(r.name);
    if (i >= 0) return i;
    return real.has(r.name) ? 2 : 3;
  };
  const kept = mode === 'real-only' ? rows.filter((r) => rank(r) < 3) : rows;
  // A stable sort keeps the kernel's order within each rank.
  return kept.map((r, i) => ({ r, i, k: rank(r) })).sort((a, b) => a.k - b.k || a.i - b.i).map((x) => x.r);
}

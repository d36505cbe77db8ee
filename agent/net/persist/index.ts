// Persisting an address, a gateway or a route of an interface in whatever owns the network configuration:
// which renderer that is (detectRenderer), and the renderers behind one interface. Each renderer
// writes into a file of its own where the format allows it, and never rewrites the customer's lines.

import type { System } from '../../os/system';
import { ifcfg } from './ifcfg';
import { ifupdown } from './ifupdown';
import { netplan } from './netplan';
import { networkd } from './networkd';
import { networkmanager } from './networkmanager';
import type { Backend, Detection, Renderer, RendererName, Survey } from './types';

export { PersistError } from './types';
export type { Address, Detection, PersistChange, PersistRoute, Renderer, RendererName } from './types';
export { sameRoute } from './route';
export { IFUPDOWN_FILE } from './ifupdown';
export { NETPLAN_FILE } from './netplan';

/** netplan first: it renders into networkd and NetworkManager (under /run), so when it is in use it is the owner. */
const BACKENDS: Backend[] = [netplan, networkmanager, networkd, ifupdown, ifcfg];
export const renderers: Renderer[] = BACKENDS;

const WHERE: Record<RendererName, string> = {
  netplan: '/etc/netplan/*.yaml with netplan installed',
  networkmanager: 'keyfiles with interface-name= in /etc/NetworkManager/system-connections with NetworkManager installed',
  networkd: '.network files in /etc/systemd/network with systemd-networkd enabled',
  ifupdown: 'iface stanzas in /etc/network/interfaces with ifupdown installed',
  ifcfg: '/etc/sysconfig/network-scripts/ifcfg-*',
};

/**
 * Decides who owns the network configuration; refuses clearly when it cannot be told (none, or
 * several that conflict). With IFACE, only renderers that configure that interface count, so a
 * system where one renderer has eth0 and another wlan0 can still be answered for eth0.
 */
export function detectRenderer(sys: System, iface?: string): Detection {
  const found: Array<{ backend: Backend; survey: Survey }> = [];
  for (const backend of BACKENDS) {
    try {
      const survey = backend.survey(sys);
      if (survey) found.push({ backend, survey });
    } catch (e) {
      return { ok: false, reason: `cannot tell who owns the network configuration: ${(e as Error).message}` };
    }
  }
  const label = (f: (typeof found)[number]) => `${f.backend.name} (${f.survey.names.join(', ') || 'by pattern'})`;
  if (!found.length) {
    return { ok: false, reason: `no network configuration found under ${sys.root}: looked for ${BACKENDS.map((b) => `${b.name}: ${WHERE[b.name]}`).join('; ')}` };
  }
  const owners = iface === undefined ? found : found.filter((f) => f.survey.claims(iface));
  if (iface !== undefined && !owners.length) {
    return { ok: false, reason: `${iface} is not configured by any renderer here (found ${found.map(label).join(', ')})` };
  }
  // Two renderers configuring one interface fight at boot; which one wins cannot be told from files.
  for (const name of new Set([...owners.flatMap((f) => f.survey.names), ...(iface === undefined ? [] : [iface])])) {
    const both = owners.filter((f) => f.survey.claims(name));
    if (both.length > 1) {
      return { ok: false, reason: `${name} is configured by both ${both.map((f) => `${f.backend.name} (${WHERE[f.backend.name]})`).join(' and ')}; refusing to guess which one the system uses` };
    }
  }
  if (owners.length > 1 && owners[0].backend !== netplan) {
    return { ok: false, reason: `several renderers configure interfaces here: ${owners.map(label).join(', ')}; name the interface` };
  }
  return { ok: true, renderer: owners[0].backend };
}

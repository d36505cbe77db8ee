// phoenix-add-ip, phoenix-remove-ip, phoenix-list-ips: an address on an interface, live (iproute2)
// and persisted in whatever owns the network configuration (agent/net/persist), convergent
// ("ensure present/absent"), and reporting exactly what changed where. When persisting fails
// after the live change, the live change is rolled back, so live and persisted never drift
// because of us.

import fs = require('fs');
import { checkAddress, CheckedAddress } from '../net/address';
import { classifyInterfaces } from '../net/classify';
import { changeLive, liveAddresses, LiveAddress } from '../net/live';
import type { PersistChange } from '../net/persist';
import { primaryAddresses } from '../net/primary';
import type { Host } from '../os/host';
import type { System } from '../os/system';
import { rare } from '../rare/load';
import { QgaError } from '../wire/reply';

export interface AddressReply {
  interface: string;
  address: string;
  prefix: number;
  live: 'added' | 'removed' | 'unchanged';
  persisted: PersistChange | null;
}

const fail = (desc: string): never => { throw new QgaError('GenericError', desc); };

function persistError(e: unknown): string {
  // PersistError messages already name their file.
  if (e instanceof QgaError) return e.desc;
  return (e as Error).message;
}

/** NetworkManager keeps profiles in memory: without a reload it could write its old copy back. */
export async function reloadAfter(sys: System, change: PersistChange | null): Promise<void> {
  if (!change || change.action === 'unchanged' || change.renderer !== 'networkmanager' || sys.root !== '/') return;
  const nmcli = sys.which('nmcli');
  if (nmcli) await sys.run(nmcli, ['connection', 'load', change.file], { timeoutMs: 10_000 });
}

function interfaceExists(iface: string): boolean {
  // The live kernel's interfaces (this namespace), not the root tree's.
  return fs.existsSync(`/sys/class/net/${iface}`);
}

async function check(sys: System, a: { interface: string; address: string; prefix: number }, persist: boolean) {
  const c = checkAddress(a.interface, a.address, a.prefix);
  if (!interfaceExists(c.iface)) fail(`Parameter 'interface': there is no interface '${c.iface}'`);
  const detection = persist ? rare().detectRenderer(sys, c.iface) : null;
  if (detection && !detection.ok) fail(`cannot tell how to persist the address: ${detection.reason}; nothing was changed (for a live-only change: "persist": false, or phoenix-ga-ctl add-ip/remove-ip --no-persist)`);
  const live = await liveAddresses(sys);
  return { c, renderer: detection && detection.ok ? detection.renderer : null, live };
}

export async function addAddress(sys: System, a: { interface: string; address: string; prefix: number; persist?: boolean }): Promise<AddressReply> {
  const { c, renderer, live } = await check(sys, a, a.persist !== false);
  const same = live.find((x) => x.address === c.address);
  if (same && (same.iface !== c.iface || same.prefix !== c.prefix)) {
    fail(`${c.address} is already on ${same.iface} as /${same.prefix}; remove it there first (phoenix-remove-ip)`);
  }
  let liveAction: AddressReply['live'] = 'unchanged';
  if (!same) { await changeLive(sys, c, true); liveAction = 'added'; }
  let persisted: PersistChange | null = null;
  if (renderer) {
    try {
      persisted = renderer.ensure(sys, c, true);
    } catch (e) {
      if (liveAction === 'added') await changeLive(sys, c, false).catch(() => undefined);
      fail(`persisting ${c.address}/${c.prefix} failed: ${persistError(e)}; ${liveAction === 'added' ? 'the live address was removed again' : 'the live address was already there and stays'}`);
    }
    await reloadAfter(sys, persisted);
  }
  return { interface: c.iface, address: c.address, prefix: c.prefix, live: liveAction, persisted };
}

export async function removeAddress(sys: System, a: { interface: string; address: string; prefix: number; persist?: boolean }): Promise<AddressReply> {
  const { c, renderer, live } = await check(sys, a, a.persist !== false);
  let persisted: PersistChange | null = null;
  // Persisted first: a failure then leaves everything as it was.
  if (renderer) {
    try { persisted = renderer.ensure(sys, c, false); } catch (e) { fail(`removing ${c.address}/${c.prefix} from the configuration failed: ${persistError(e)}; nothing was changed`); }
    await reloadAfter(sys, persisted);
  }
  const here = live.find((x) => x.address === c.address && x.iface === c.iface && x.prefix === c.prefix);
  if (here) {
    try {
      await changeLive(sys, c, false);
    } catch (e) {
      if (persisted?.action === 'removed') { try { renderer!.ensure(sys, c, true); } catch { /* reported below */ } }
      throw e;
    }
  }
  return { interface: c.iface, address: c.address, prefix: c.prefix, live: here ? 'removed' : 'unchanged', persisted };
}

const key = (x: { address: string; prefix: number }) => `${x.address}/${x.prefix}`;

/**
 * Each row also says what the interface is (kind, real, driver: agent/net/classify.ts) and which
 * of its addresses are the server's primary ones (on the default route's interface).
 */
export async function listAddresses(sys: System, host: Host, iface: string | undefined, panelSet: (iface: string) => Array<{ address: string; prefix: number }> | null = () => null): Promise<Array<Record<string, unknown>>> {
  const live = (await liveAddresses(sys)).filter((x) => (iface ? x.iface === iface : true));
  const names = [...new Set(iface ? [iface] : live.map((x) => x.iface))];
  const classes = classifyInterfaces(host, names);
  const p = primaryAddresses(host);
  const primary = [p.ipv4, p.ipv6].filter((x) => x !== null).map((x) => `${x!.iface} ${key(x!)}`);
  return names.map((name) => {
    const detection = rare().detectRenderer(sys, name);
    const mine = live.filter((x) => x.iface === name && !(x.family === 6 && /^fe[89ab]/.test(x.address)));
    const persisted = detection.ok ? detection.renderer.list(sys, name) : null;
    const c = classes.get(name);
    const row: Record<string, unknown> = {
      interface: name,
      live: mine.map(key),
      renderer: detection.ok ? detection.renderer.name : null,
      persisted: persisted ? persisted.map(key) : null,
      kind: c?.kind ?? null,
      real: c?.real ?? false,
      driver: c?.driver ?? null,
      primary: mine.map(key).filter((k) => primary.includes(`${name} ${k}`)),
    };
    if (!detection.ok) row.reason = detection.reason;
    const set = panelSet(name);
    // What the panel last confirmed (phoenix-apply-network) against what is live now.
    if (set) {
      const statics = mine.filter((x) => !x.dynamic);
      row.panel_drift = {
        missing: set.filter((p) => !statics.some((x) => key(p) === key(x))).map(key),
        unexpected: statics.filter((x) => !set.some((p) => key(p) === key(x))).map(key),
      };
    }
    if (persisted) {
      // Drift: DHCP leases are live and never persisted, so only static mismatches are listed.
      row.drift = {
        live_only: mine.filter((x: LiveAddress) => !persisted.some((p) => key(p) === key(x))).map(key),
        persisted_only: persisted.filter((p) => !mine.some((x) => key(p) === key(x))).map(key),
      };
    }
    return row;
  });
}

export type { CheckedAddress };

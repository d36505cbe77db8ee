// phoenix-ga-ctl apply-network / confirm-network / network-status: words to the arguments of the
// network transaction commands, and one line per transaction for a person.

import { printable } from './guest-text';

export const NETWORK_USAGE = `  apply-network IFACE ADDRESS/PREFIX... [--gateway GW] [--confirm-within SEC] [--no-persist]
                [--check TARGET] [--check-gateway]
                                            the interface's addresses as a transaction, reverted
                                            by the agent unless confirmed in time (default 120 s)
  confirm-network ID [--check TARGET] [--check-gateway]
  network-status                            the open transaction and the last finished ones
`;

export interface NetworkFlags { gateway?: string; within?: string; noPersist: boolean; target?: string; checkGateway: boolean }

const check = (f: NetworkFlags): Record<string, unknown> | undefined =>
  (f.target !== undefined || f.checkGateway ? { ...(f.checkGateway ? { gateway: true } : {}), ...(f.target !== undefined ? { target: f.target } : {}) } : undefined);

export function applyNetworkArgs(words: string[], f: NetworkFlags): Record<string, unknown> {
  const [iface, ...addresses] = words;
  if (!iface || !addresses.length) throw new Error('apply-network needs an interface and at least one ADDRESS/PREFIX');
  const within = f.within === undefined ? 120 : Number(f.within);
  if (!Number.isInteger(within)) throw new Error(`--confirm-within: expected whole seconds, got '${printable(f.within!)}'`);
  const c = check(f);
  return { interface: iface, addresses, 'confirm-within': within, ...(f.gateway ? { gateway: f.gateway } : {}), ...(f.noPersist ? { persist: false } : {}), ...(c ? { check: c } : {}) };
}

export function confirmNetworkArgs(words: string[], f: NetworkFlags): Record<string, unknown> {
  if (!words[0]) throw new Error('confirm-network needs the id apply-network printed');
  const c = check(f);
  return { id: words[0], ...(c ? { check: c } : {}) };
}

interface Txn { id: string; interface: string; state: string; deadline: string; after: { addresses: string[] }; 'seconds-left'?: number; reverted?: { reason: string } }

const line = (t: Txn): string => `${t.id} ${t.interface} ${t.state}: ${t.after.addresses.join(' ') || 'no address'}`
  + (t['seconds-left'] !== undefined ? `; ${t['seconds-left']} s left (deadline ${t.deadline})` : '')
  + (t.reverted ? `; reverted: ${t.reverted.reason}` : '');

export function humanNetwork(cmd: string, r: unknown): string {
  if (cmd === 'network-status') {
    const s = r as { pending: Txn | null; history: Txn[] };
    return [s.pending ? `open: ${line(s.pending)}` : 'no open transaction', ...s.history.slice(0, 5).map((t) => `  ${line(t)}`)].map(printable).join('\n');
  }
  const t = r as Txn;
  return printable(cmd === 'apply-network' ? `${line(t)}; confirm before ${t.deadline}: phoenix-ga-ctl confirm-network ${t.id}` : line(t));
}

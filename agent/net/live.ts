// Addresses on the running system, through iproute2 (`ip -o addr`, which every iproute2 version
// prints the same way; `ip -j` needs 4.14). The caller runs the agent in the network namespace it
// means; tests use `ip netns exec`.

import type { System } from '../os/system';
import { QgaError } from '../wire/reply';
import { canonicalV6, CheckedAddress } from './address';

export interface LiveAddress { iface: string; address: string; prefix: number; family: 4 | 6; dynamic?: boolean }

/** "2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\\ ..." */
export function parseIpAddr(text: string): LiveAddress[] {
  const out: LiveAddress[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+([^\s:@]+)(?:@\S+)?\s+(inet6?)\s+([0-9a-fA-F.:]+)\/(\d+)/.exec(line);
    if (!m) continue;
    const family = m[2] === 'inet' ? 4 : 6;
    const a: LiveAddress = { iface: m[1], address: family === 6 ? canonicalV6(m[3]) : m[3], prefix: Number(m[4]), family };
    // A DHCP or SLAAC lease: its client keeps it, not the configuration.
    if (/\sdynamic\s/.test(line.split('\\')[0] + ' ')) a.dynamic = true;
    out.push(a);
  }
  return out;
}

function ip(sys: System): string {
  return sys.which('ip') ?? (() => { throw new QgaError('GenericError', "cannot find 'ip' program (iproute2)"); })();
}

export async function liveAddresses(sys: System, iface?: string): Promise<LiveAddress[]> {
  const r = await sys.run(ip(sys), ['-o', 'addr', 'show', ...(iface ? ['dev', iface] : [])], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new QgaError('GenericError', `ip addr show failed: ${r.stderr.trim().slice(0, 300)}`);
  return parseIpAddr(r.stdout);
}

export async function changeLive(sys: System, a: CheckedAddress, present: boolean): Promise<void> {
  const args = ['addr', present ? 'add' : 'del', `${a.address}/${a.prefix}`, ...(present && a.family === 4 ? ['brd', '+'] : []), 'dev', a.iface];
  const r = await sys.run(ip(sys), args, { timeoutMs: 10_000 });
  if (r.code !== 0) throw new QgaError('GenericError', `ip ${args.join(' ')} failed: ${r.stderr.trim().slice(0, 300)}`);
}

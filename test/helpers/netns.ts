// A network namespace with an interface eth0 (one end of a veth pair) for live address tests.
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';

export interface NetNs { name: string; ip(...args: string[]): string; addrs(iface?: string): Array<{ address: string; prefix: number; family: number }>; remove(): void }

export function makeNetNs(): NetNs {
  if (process.getuid!() !== 0) throw new Error('needs root for ip netns (CI is root)');
  const name = `pga-${crypto.randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name]);
  const ip = (...args: string[]) => execFileSync('ip', ['-n', name, ...args], { encoding: 'utf8' });
  ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0peer');
  ip('link', 'set', 'eth0', 'up');
  ip('link', 'set', 'eth0peer', 'up');
  ip('link', 'set', 'lo', 'up');
  return {
    name,
    ip,
    addrs(iface = 'eth0') {
      const j = JSON.parse(ip('-j', 'addr', 'show', 'dev', iface)) as Array<{ addr_info: Array<{ family: string; local: string; prefixlen: number; scope: string }> }>;
      return (j[0]?.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => ({ address: a.local, prefix: a.prefixlen, family: a.family === 'inet' ? 4 : 6 }));
    },
    remove() { try { execFileSync('ip', ['netns', 'del', name]); } catch { /* gone */ } },
  };
}

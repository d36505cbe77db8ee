// TCP listeners of this network namespace (/proc/net/tcp and tcp6) joined with the processes that
// hold them (the socket inode among /proc/PID/fd links) and their names: who listens on which port,
// read from /proc without running ss or netstat.

import { canonicalV6 } from '../net/address';
import type { Host } from '../os/host';

export interface Listener { address: string; port: number; inode: number; pids: number[]; names: string[] }

const LISTEN = '0A';

function v4(hex: string): string {
  const n = parseInt(hex, 16) >>> 0;
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.');
}

/** 32 hex digits in four host-order (little-endian) words, as "[2001:db8::1]". */
function v6(hex: string): string {
  const words = (hex.match(/.{8}/g) ?? []).map((w) => (w.match(/../g) ?? []).reverse().join(''));
  return `[${canonicalV6(words.join('').match(/.{4}/g)!.join(':'))}]`;
}

/** The LISTEN sockets of one /proc/net/tcp{,6} text: address, port, inode. */
export function parseTcp(text: string, six: boolean): Array<{ address: string; port: number; inode: number }> {
  const out: Array<{ address: string; port: number; inode: number }> = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== LISTEN) continue;
    const [addr, port] = f[1].split(':');
    out.push({ address: six ? v6(addr) : v4(addr), port: parseInt(port, 16), inode: Number(f[9]) });
  }
  return out;
}

/** Every process's socket inodes; processes that vanish meanwhile are skipped. */
function socketOwners(host: Host, inodes: Set<number>): Map<number, number[]> {
  const owners = new Map<number, number[]>();
  for (const pid of host.list('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    for (const fd of host.list(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(host.link(`/proc/${pid}/fd/${fd}`) ?? '');
      if (!m || !inodes.has(Number(m[1]))) continue;
      const list = owners.get(Number(m[1])) ?? [];
      if (!list.includes(Number(pid))) list.push(Number(pid));
      owners.set(Number(m[1]), list);
    }
  }
  return owners;
}

export function tcpListeners(host: Host): Listener[] {
  const socks = [...parseTcp(host.read('/proc/net/tcp') ?? '', false), ...parseTcp(host.read('/proc/net/tcp6') ?? '', true)];
  const owners = socketOwners(host, new Set(socks.map((s) => s.inode)));
  return socks.map((s) => {
    const pids = owners.get(s.inode) ?? [];
    const names = [...new Set(pids.map((p) => (host.read(`/proc/${p}/comm`) ?? '?').trim()))];
    return { ...s, pids, names };
  });
}

/** Pids of processes whose name (comm) is NAME. */
export function processesNamed(host: Host, name: string): number[] {
  return host.list('/proc').filter((p) => /^\d+$/.test(p) && (host.read(`/proc/${p}/comm`) ?? '').trim() === name).map(Number);
}

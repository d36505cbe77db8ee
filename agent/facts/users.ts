// guest-get-users: who is logged in, from the utmp file (glibc layout, 384-byte records), each
// user once with the time of their first login, as qemu-ga reports it.

import type { Host } from '../os/host';

const RECORD = 384;
const USER_PROCESS = 7;

export function parseUtmp(b: Buffer): Array<{ user: string; 'login-time': number }> {
  const first = new Map<string, number>();
  for (let o = 0; o + RECORD <= b.length; o += RECORD) {
    if (b.readInt16LE(o) !== USER_PROCESS) continue;
    const raw = b.subarray(o + 44, o + 76);
    const user = raw.toString('utf8', 0, raw.indexOf(0) >= 0 ? raw.indexOf(0) : raw.length);
    if (!user) continue;
    const t = b.readInt32LE(o + 340) + b.readInt32LE(o + 344) / 1e6;
    const seen = first.get(user);
    if (seen === undefined || t < seen) first.set(user, t);
  }
  return [...first].map(([user, t]) => ({ user, 'login-time': t }));
}

export function users(host: Host): Array<{ user: string; 'login-time': number }> {
  return parseUtmp(host.readBytes('/run/utmp') ?? host.readBytes('/var/run/utmp') ?? Buffer.alloc(0));
}

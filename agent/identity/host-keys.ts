// phoenix-get-host-keys: the SSH host keys' fingerprints as `ssh-keygen -l` shows them (bits,
// SHA256:base64 without padding, type), so the panel can show a customer what their first ssh
// connection must see. Each /etc/ssh/ssh_host_*_key.pub is read only if it is a regular file (no
// link followed, no FIFO waited on) of at most 16 KiB.

import type * as cryptoModule from 'crypto';
import fs = require('fs');
import { parseKeyLine } from '../actions/ssh-key-line';
import { createHost } from '../os/host';
import type { System } from '../os/system';

const PUB = /^ssh_host_[a-z0-9]+_key\.pub$/;
const MAX_BYTES = 16 << 10;

export interface HostKey { file: string; type: string; algorithm: string; bits: number; fingerprint: string }
export interface HostKeys { keys: HostKey[]; skipped: Array<{ file: string; reason: string }> }

/** The SSH wire strings of a key blob: type, then the key's fields (RSA: e, n; DSA: p, q, g, y). */
function fields(blob: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o + 4 <= blob.length;) {
    const n = blob.readUInt32BE(o);
    if (o + 4 + n > blob.length) break;
    out.push(blob.subarray(o + 4, o + 4 + n));
    o += 4 + n;
  }
  return out;
}

/** Bits of an mpint (big-endian, a leading zero byte keeps it positive). */
function mpintBits(b: Buffer | undefined): number {
  if (!b) return 0;
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return i === b.length ? 0 : (b.length - i - 1) * 8 + (32 - Math.clz32(b[i]));
}

/** The size and name ssh-keygen -l gives a key type. */
export function keySize(algorithm: string, blob: Buffer): { type: string; bits: number } {
  const f = fields(blob);
  const plain = algorithm.replace(/-cert-v01@openssh\.com$/, '');
  if (plain === 'ssh-rsa') return { type: 'RSA', bits: mpintBits(f[2]) };
  if (plain === 'ssh-dss') return { type: 'DSA', bits: mpintBits(f[1]) };
  if (plain.endsWith('ed25519') || plain.endsWith('ed25519@openssh.com')) return { type: plain.startsWith('sk-') ? 'ED25519-SK' : 'ED25519', bits: 256 };
  const ec = /nistp(256|384|521)/.exec(plain);
  if (ec) return { type: plain.startsWith('sk-') ? 'ECDSA-SK' : 'ECDSA', bits: Number(ec[1]) };
  return { type: plain.toUpperCase(), bits: 0 };
}

export function fingerprint(blob: Buffer): string {
  const crypto = require('crypto') as typeof cryptoModule;
  return `SHA256:${crypto.createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

async function readPub(sys: System, p: string): Promise<string> {
  const fd = sys.file.open(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  try {
    const st = sys.file.stat(fd);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_BYTES) throw new Error(`${st.size} bytes, more than a public key's ${MAX_BYTES}`);
    const buf = Buffer.alloc(st.size);
    const n = await sys.file.read(fd, buf, 0);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    sys.file.close(fd);
  }
}

export async function hostKeys(sys: System): Promise<HostKeys> {
  const out: HostKeys = { keys: [], skipped: [] };
  for (const name of createHost(sys.root).list('/etc/ssh').filter((n) => PUB.test(n)).sort()) {
    const file = `/etc/ssh/${name}`;
    try {
      const text = await readPub(sys, file);
      const line = text.split('\n').find((l) => l.trim() !== '' && !l.startsWith('#'));
      if (!line) throw new Error('no key in it');
      const key = parseKeyLine(line);
      const blob = Buffer.from(key.blob, 'base64');
      out.keys.push({ file, ...keySize(key.type, blob), algorithm: key.type, fingerprint: fingerprint(blob) });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      out.skipped.push({ file, reason: code === 'ELOOP' ? 'a symbolic link (not followed)' : code ?? (e as Error).message });
    }
  }
  return out;
}

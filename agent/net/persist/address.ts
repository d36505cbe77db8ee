// Addresses as the configuration files write them, read back into the caller's canonical form, and
// the one decision every renderer shares: given what is configured, what ensure() has to do.

import net = require('net');
import { PersistError, type Address, type RendererName } from './types';

/** Canonical text (Node's, which is inet_ntop's) and family of an address, or null when it is none. */
export function canonical(text: string): { address: string; family: 4 | 6 } | null {
  const family = net.isIP(text);
  if (family !== 4 && family !== 6) return null;
  try {
    return { address: new net.SocketAddress({ address: text, family: family === 4 ? 'ipv4' : 'ipv6' }).address, family };
  } catch {
    return null;
  }
}

/** "X/P" (or "X" with DEFAULT giving the prefix) as an Address on IFACE; null when it does not parse. */
export function parseCidr(text: string, iface: string, fallback?: (family: 4 | 6, address: string) => number | null): Address | null {
  const [host, len, extra] = text.trim().split('/');
  const c = canonical(host);
  if (!c || extra !== undefined) return null;
  const prefix = len === undefined ? fallback?.(c.family, c.address) ?? null : /^\d{1,3}$/.test(len) ? Number(len) : null;
  if (prefix === null || prefix > (c.family === 4 ? 32 : 128)) return null;
  return { iface, address: c.address, prefix, family: c.family };
}

/** "255.255.255.0" or "24" as a prefix length; null for a non-contiguous or malformed mask. */
export function prefixFromNetmask(mask: string): number | null {
  if (/^\d{1,3}$/.test(mask)) return Number(mask);
  if (net.isIP(mask) !== 4) return null;
  const n = mask.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const bits = n.toString(2).padStart(32, '0');
  return /^1*0*$/.test(bits) ? bits.indexOf('0') < 0 ? 32 : bits.indexOf('0') : null;
}

/** The classful prefix old tools assume for an IPv4 address written without one. */
export function classfulPrefix(v4: string): number {
  const first = Number(v4.split('.')[0]);
  return first < 128 ? 8 : first < 192 ? 16 : 24;
}

export const cidr = (a: Address): string => `${a.address}/${a.prefix}`;

/** One configured address and where it is; FIXED says why it may not be removed (undefined: it may). */
export interface Entry { addr: Address; file: string; ours: boolean; fixed?: string }

export type Step =
  | { kind: 'none'; file: string }
  | { kind: 'add' }
  | { kind: 'remove'; entries: Entry[] };

/** What ensure(ADDR, PRESENT) must do given ENTRIES (what is configured for the interface); TARGET is where we add. */
export function plan(renderer: RendererName, entries: Entry[], addr: Address, present: boolean, target: string): Step {
  const same = entries.filter((e) => e.addr.family === addr.family && e.addr.address === addr.address);
  // A second prefix for the same address is a conflict only the operator can resolve.
  const other = same.find((e) => e.addr.prefix !== addr.prefix);
  if (other) {
    throw new PersistError(`${renderer}: ${cidr(addr)} on ${addr.iface}: ${other.file} already configures it as ${cidr(other.addr)}; remove that first`, other.file);
  }
  if (present) return same.length ? { kind: 'none', file: same[0].file } : { kind: 'add' };
  if (!same.length) return { kind: 'none', file: target };
  const fixed = same.find((e) => e.fixed !== undefined);
  if (fixed) {
    throw new PersistError(`${renderer}: ${cidr(addr)} on ${addr.iface} is configured in ${fixed.file} (${fixed.fixed}); refusing to edit it, change that file by hand`, fixed.file);
  }
  return { kind: 'remove', entries: same };
}

// Strict checks of an address to add or remove, before anything runs: no octal, hex or shortened
// IPv4 (iproute2 would read 010.0.0.1 as 8.0.0.1 and 10.8 as 10.8.0.0), no zone id, no special
// ranges, a prefix in range, an interface name that cannot be an option or a path.

import net = require('net');
import { QgaError } from '../wire/reply';

export interface CheckedAddress { iface: string; address: string; prefix: number; family: 4 | 6 }

export const IFACE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

const fail = (name: string, why: string): never => { throw new QgaError('GenericError', `Parameter '${name}' ${why}`); };

function v4int(a: string): number {
  return a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function inV4(a: string, base: string, bits: number): boolean {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return ((v4int(a) & mask) >>> 0) === ((v4int(base) & mask) >>> 0);
}

/** The canonical (RFC 5952) text of an IPv6 address. */
export function canonicalV6(a: string): string {
  return new net.SocketAddress({ address: a, family: 'ipv6' }).address;
}

export function checkAddress(iface: string, address: string, prefix: number): CheckedAddress {
  if (!IFACE.test(iface) || iface === '.' || iface === '..') fail('interface', 'is not an interface name (1-15 of A-Z a-z 0-9 _ . -, not starting with - or .)');
  if (address.includes('%')) fail('address', 'must not carry a zone id');
  const family = net.isIPv4(address) ? 4 : net.isIPv6(address) ? 6 : 0;
  if (family === 0) fail('address', 'is not an IPv4 address in dotted decimal (four octets, no leading zeros) or an IPv6 address');
  if (family === 4) {
    if (prefix < 1 || prefix > 32) fail('prefix', 'must be 1 to 32 for IPv4');
    const special: Array<[string, number, string]> = [['0.0.0.0', 8, 'this network'], ['127.0.0.0', 8, 'loopback'], ['169.254.0.0', 16, 'link-local'], ['224.0.0.0', 4, 'multicast'], ['240.0.0.0', 4, 'reserved']];
    for (const [base, bits, what] of special) if (inV4(address, base, bits)) fail('address', `is ${what} (${base}/${bits})`);
    return { iface, address, prefix, family: 4 };
  }
  if (prefix < 1 || prefix > 128) fail('prefix', 'must be 1 to 128 for IPv6');
  const c = canonicalV6(address);
  if (c === '::' || c === '::1') fail('address', 'is unspecified or loopback');
  if (/^fe[89ab]/.test(c)) fail('address', 'is link-local (fe80::/10); the kernel assigns those');
  if (/^ff/.test(c)) fail('address', 'is multicast (ff00::/8)');
  if (/^::ffff:/.test(c)) fail('address', 'is IPv4-mapped; give the IPv4 address instead');
  return { iface, address: c, prefix, family: 6 };
}

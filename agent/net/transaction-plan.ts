// What a network transaction asks for, checked before anything runs, and the interface state it
// leads to from the current one: the addresses given replace the interface's static addresses; a
// gateway replaces the default route of its family; routes, when given, replace the interface's
// other static routes. Everything else (leases, the kernel's routes) stays as it is.

import net = require('net');
import { QgaError } from '../wire/reply';
import { canonicalV6, checkAddress } from './address';
import type { Addr, InterfaceState } from './interface-state';
import type { Route } from './routes';

export interface TxnArgs {
  interface: string;
  id?: string;
  addresses: string[];
  gateway?: string;
  routes?: Array<{ to: string; via?: string; metric?: number }>;
  'confirm-within': number;
  check?: { gateway?: boolean; target?: string };
  persist?: boolean;
}

const fail = (name: string, why: string): never => { throw new QgaError('GenericError', `Parameter '${name}' ${why}`); };

/** The address as a number of 32 or 128 bits. */
function bits(a: string): bigint {
  if (net.isIPv4(a)) return a.split('.').reduce((n, o) => (n << 8n) | BigInt(o), 0n);
  const [head, tail = ''] = canonicalV6(a).split('::');
  const h = head ? head.split(':') : [], t = tail ? tail.split(':') : [];
  return [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}
const width = (a: string): number => (net.isIPv4(a) ? 32 : 128);

/** Whether A lies in NET/PREFIX. */
export function inSubnet(a: string, netAddr: string, prefix: number): boolean {
  if (net.isIPv4(a) !== net.isIPv4(netAddr)) return false;
  const shift = BigInt(width(a) - prefix);
  return bits(a) >> shift === bits(netAddr) >> shift;
}

function checkHost(name: string, text: string): { address: string; family: 4 | 6 } {
  const family = net.isIPv4(text) ? 4 : net.isIPv6(text) ? 6 : 0;
  if (family === 0 || text.includes('%')) fail(name, `is not an IPv4 address in dotted decimal or an IPv6 address without zone id (got '${text.slice(0, 64)}')`);
  return { address: family === 6 ? canonicalV6(text) : text, family: family as 4 | 6 };
}

function checkDestination(name: string, text: string): { to: string; family: 4 | 6 | 0 } {
  if (text === 'default') return { to: 'default', family: 0 };
  const [host, len, extra] = text.split('/');
  const h = checkHost(name, host);
  if (extra !== undefined || !/^\d{1,3}$/.test(len ?? '')) fail(name, `must be 'default' or ADDRESS/PREFIX (got '${text.slice(0, 64)}')`);
  const prefix = Number(len);
  if (prefix > (h.family === 4 ? 32 : 128)) fail(name, `has a prefix out of range for IPv${h.family}`);
  // ip refuses a destination with host bits set; say so before anything runs.
  if ((bits(h.address) & ((1n << BigInt(width(h.address) - prefix)) - 1n)) !== 0n) fail(name, `has host bits set beyond /${prefix} (got '${text.slice(0, 64)}')`);
  return { to: prefix === (h.family === 4 ? 32 : 128) ? h.address : `${h.address}/${prefix}`, family: h.family };
}

function onLink(via: string, addrs: Addr[]): boolean {
  return (net.isIPv6(via) && /^fe[89ab]/.test(canonicalV6(via))) || addrs.some((a) => inSubnet(via, a.address, a.prefix) && a.address !== via);
}

/** Checks A (the schema already checked types and ranges) and returns the addresses asked for. */
export function checkTxnArgs(a: TxnArgs): Addr[] {
  const addrs: Addr[] = a.addresses.map((text, i) => {
    const [host, len, extra] = text.split('/');
    if (extra !== undefined || !/^\d{1,3}$/.test(len ?? '')) fail(`addresses[${i}]`, `must be ADDRESS/PREFIX (got '${text.slice(0, 64)}')`);
    const c = checkAddress(a.interface, host, Number(len));
    return { address: c.address, prefix: c.prefix, family: c.family };
  });
  addrs.forEach((x, i) => { if (addrs.findIndex((y) => y.address === x.address) !== i) fail('addresses', `names ${x.address} twice`); });
  if (a.gateway !== undefined) {
    const g = checkHost('gateway', a.gateway);
    if (!onLink(g.address, addrs.filter((x) => x.family === g.family))) fail('gateway', `${g.address} is not on a subnet of the new addresses of ${a.interface} (nor IPv6 link-local); the kernel could not reach it`);
  }
  for (const [i, r] of (a.routes ?? []).entries()) {
    const d = checkDestination(`routes[${i}].to`, r.to);
    if (d.to === 'default' && r.via === undefined) fail(`routes[${i}].via`, "is needed for a 'default' route");
    if (d.to === 'default' && a.gateway !== undefined && checkHost('gateway', a.gateway).family === checkHost(`routes[${i}].via`, r.via!).family) fail(`routes[${i}].to`, "is 'default' and 'gateway' sets that default route too; give one of them");
    if (r.via !== undefined) {
      const v = checkHost(`routes[${i}].via`, r.via);
      if (d.family && v.family !== d.family) fail(`routes[${i}].via`, `is IPv${v.family} and the destination IPv${d.family}`);
      if (!onLink(v.address, addrs.filter((x) => x.family === v.family))) fail(`routes[${i}].via`, `${v.address} is not on a subnet of the new addresses of ${a.interface}`);
    }
  }
  if (a.check?.target !== undefined) checkHost('check.target', a.check.target);
  return addrs;
}

/** The routes A names (the gateway as a default route) and the ones they replace, which confirmation persists. */
export interface RoutesAsked {
  routes: Route[];
  /** The families whose default routes the gateway replaces. */
  defaults: Array<4 | 6>;
  /** Whether the routes other than the default ones are replaced ('routes' was given). */
  others: boolean;
}

export function routesAsked(a: TxnArgs, after: InterfaceState): RoutesAsked {
  const g = a.gateway === undefined ? null : checkHost('gateway', a.gateway);
  const viaDefault = new Set((a.routes ?? []).filter((x) => x.to === 'default' && x.via !== undefined).map((x) => checkHost('routes', x.via!).address));
  // AFTER's other routes are the given ones (they replace the rest); its default routes are kept ones too.
  const named = (r: Route): boolean => (r.to !== 'default' ? a.routes !== undefined : (g !== null && r.family === g.family) || viaDefault.has(r.via ?? ''));
  return { routes: after.routes.filter(named), defaults: g ? [g.family] : [], others: a.routes !== undefined };
}

/** The state A leads to from BEFORE; throws when a route kept from before would lose its gateway's subnet. */
export function targetState(a: TxnArgs, addrs: Addr[], before: InterfaceState): InterfaceState {
  let routes: Route[] = before.routes;
  if (a.gateway !== undefined) {
    const g = checkHost('gateway', a.gateway);
    routes = [...routes.filter((r) => !(r.to === 'default' && r.family === g.family)), { family: g.family, to: 'default', via: g.address }];
  }
  if (a.routes !== undefined) {
    routes = [...routes.filter((r) => r.to === 'default'), ...a.routes.map((r) => {
      const d = checkDestination('routes', r.to), v = r.via === undefined ? null : checkHost('routes', r.via);
      const family = (d.family || v!.family) as 4 | 6;
      return { family, to: d.to, ...(v ? { via: v.address } : {}), ...(r.metric !== undefined ? { metric: r.metric } : {}) };
    })];
  }
  for (const r of routes) {
    if (r.via && !r.onlink && !onLink(r.via, addrs.filter((x) => x.family === r.family))) {
      throw new QgaError('GenericError', `the route ${r.to} via ${r.via} of ${a.interface} would lose its gateway's subnet with these addresses; give 'gateway' (or 'routes') for the new addresses; nothing was changed`);
    }
  }
  return { addresses: addrs, routes };
}

// RHEL ifcfg files: the address goes into /etc/sysconfig/network-scripts/ifcfg-IFACE, the only
// place both readers of it look (initscripts' ifup and NetworkManager's ifcfg-rh): IPv4 as an
// IPADDRn=/PREFIXn= pair, IPv6 as one more word of IPV6ADDR_SECONDARIES. Every other line is kept.
// The primary address (IPADDR, IPADDR0, IPV6ADDR) and one with its own GATEWAYn are never removed.
// A gateway is GATEWAY= or IPV6_DEFAULTGW= there; other routes (and a default with a metric) are
// lines of route-IFACE / route6-IFACE in the `ip route` argument form both readers take.

import type { System } from '../../os/system';
import { cidr, classfulPrefix, parseCidr, plan, prefixFromNetmask, type Entry } from './address';
import { exists, listDir, refuseLink, removeFile, writeFile } from './files';
import { joinLines, splitLines } from './ini';
import { destinationText, parseRoute, planRoute, routeText, sameRoute, type RouteEntry } from './route';
import { PersistError, type Address, type Backend, type PersistChange, type PersistRoute, type Survey } from './types';

const DIR = '/etc/sysconfig/network-scripts';
const SKIPPED = /(~|\.(bak|orig|rpmnew|rpmorig|rpmsave))$/;
const TRUE = /^(yes|true|t|y|1)$/i;

interface Ifcfg { file: string; lines: string[]; vars: Map<string, { value: string; index: number; quote: string }> }

function parse(file: string, text: string): Ifcfg {
  const lines = splitLines(text);
  const vars: Ifcfg['vars'] = new Map();
  lines.forEach((line, index) => {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S*))/.exec(line);
    if (m) vars.set(m[1], { value: m[2]?.replace(/\\(.)/g, '$1') ?? m[3] ?? m[4] ?? '', index, quote: m[2] !== undefined ? '"' : m[3] !== undefined ? "'" : '' });
  });
  return { file, lines, vars };
}

function files(sys: System): Ifcfg[] {
  return listDir(sys, DIR).filter((n) => n.startsWith('ifcfg-') && n !== 'ifcfg-lo' && !SKIPPED.test(n))
    .map((n) => parse(`${DIR}/${n}`, sys.readText(`${DIR}/${n}`) ?? ''));
}

const deviceOf = (c: Ifcfg) => c.vars.get('DEVICE')?.value || c.file.slice(c.file.lastIndexOf('/') + 7);

function fileOf(sys: System, iface: string): Ifcfg {
  const named = files(sys).find((c) => c.file === `${DIR}/ifcfg-${iface}`);
  const byDevice = files(sys).filter((c) => deviceOf(c) === iface);
  const c = named ?? (byDevice.length === 1 ? byDevice[0] : undefined);
  if (!c) throw new PersistError(`ifcfg: no ${DIR}/ifcfg-${iface}${byDevice.length ? ` and several files with DEVICE=${iface}` : ''}`);
  return c;
}

/** IPADDR, IPADDR0, IPADDR1 may be missing; from IPADDR2 on, both readers stop at the first gap. */
function v4Indexes(c: Ifcfg): string[] {
  const out: string[] = [];
  for (const idx of ['', ...Array.from({ length: 256 }, (_, i) => String(i))]) {
    if (c.vars.get(`IPADDR${idx}`)?.value) out.push(idx);
    else if (idx !== '' && Number(idx) >= 2) break;
  }
  return out;
}

function entries(c: Ifcfg, iface: string): Entry[] {
  const v = (k: string) => c.vars.get(k)?.value ?? '';
  const idxs = v4Indexes(c);
  const dhcp = /^(dhcp|bootp)$/i.test(v('BOOTPROTO'));
  const v4 = idxs.flatMap((idx) => {
    const p = v(`PREFIX${idx}`) || v(`NETMASK${idx}`);
    const addr = parseCidr(v(`IPADDR${idx}`), iface, (_, a) => (p ? prefixFromNetmask(p) : classfulPrefix(a)));
    const fixed = idx === '' || idx === '0' ? `the primary address, IPADDR${idx}` : !dhcp && idxs.length === 1 ? 'the only address of a static profile'
      : v(`GATEWAY${idx}`) ? `it has its own GATEWAY${idx}` : undefined;
    return addr ? [{ addr, file: c.file, ours: false, ...(fixed ? { fixed } : {}) }] : [];
  });
  const v6 = [v('IPV6ADDR'), ...v('IPV6ADDR_SECONDARIES').split(/\s+/)].map((t, i) => ({ addr: t ? parseCidr(t, iface, () => 64) : null, i }))
    .flatMap(({ addr, i }) => (addr ? [{ addr, file: c.file, ours: false, ...(i === 0 ? { fixed: 'the primary address, IPV6ADDR' } : {}) }] : []));
  return [...v4, ...v6];
}

function add(sys: System, c: Ifcfg, addr: Address): string[] {
  const v = (k: string) => c.vars.get(k)?.value ?? '';
  const lines = [...c.lines];
  // Written the way the file already writes its values: quoted (as anaconda does) or bare.
  const q = c.vars.get('IPADDR')?.quote ?? c.vars.get('BOOTPROTO')?.quote ?? c.vars.get('DEVICE')?.quote ?? '';
  if (addr.family === 4) {
    const nm = exists(sys, '/usr/sbin/NetworkManager') && !/^(no|false|n|0)$/i.test(v('NM_CONTROLLED'));
    if (/^(dhcp|bootp)$/i.test(v('BOOTPROTO')) && !nm) {
      throw new PersistError(`ifcfg: ${c.file} has BOOTPROTO=${v('BOOTPROTO')} and NetworkManager does not manage it; the network service ignores IPADDRn then`, c.file);
    }
    let n = 1;
    while (c.vars.get(`IPADDR${n}`)?.value) n++;
    lines.push(`IPADDR${n}=${q}${addr.address}${q}`, `PREFIX${n}=${q}${addr.prefix}${q}`);
    return lines;
  }
  if (!TRUE.test(v('IPV6INIT'))) {
    throw new PersistError(`ifcfg: ${c.file} does not enable IPv6 (IPV6INIT=${v('IPV6INIT') || 'unset'}); refusing to turn IPv6 on for the whole interface`, c.file);
  }
  const sec = c.vars.get('IPV6ADDR_SECONDARIES');
  const words = [...(sec?.value.split(/\s+/).filter(Boolean) ?? []), cidr(addr)];
  const line = `IPV6ADDR_SECONDARIES="${words.join(' ')}"`;
  if (sec) lines[sec.index] = line; else lines.push(line);
  return lines;
}

function remove(c: Ifcfg, addr: Address, iface: string): string[] {
  const lines = [...c.lines];
  if (addr.family === 6) {
    const sec = c.vars.get('IPV6ADDR_SECONDARIES')!;
    const words = sec.value.split(/\s+/).filter((w) => w && parseCidr(w, iface, () => 64)?.address !== addr.address);
    const q = sec.quote || (words.length > 1 ? '"' : '');
    // A list that becomes empty goes with its line.
    return words.length ? (lines[sec.index] = `IPV6ADDR_SECONDARIES=${q}${words.join(' ')}${q}`, lines) : lines.filter((_, i) => i !== sec.index);
  }
  const idx = v4Indexes(c).find((i) => parseCidr(c.vars.get(`IPADDR${i}`)!.value, iface, () => 32)?.address === addr.address)!;
  const n = Number(idx);
  return lines.flatMap((line) => {
    const m = /^(\s*)(IPADDR|PREFIX|NETMASK|GATEWAY)(\d+)=/.exec(line);
    if (!m || Number(m[3]) < n) return [line];
    if (Number(m[3]) === n) return [];
    // Later addresses move down one, so the numbering keeps no gap the readers would stop at.
    return n >= 2 ? [line.replace(/^(\s*[A-Z]+)\d+=/, `$1${Number(m[3]) - 1}=`)] : [line];
  });
}

const GATEWAY_KEY: Record<4 | 6, string> = { 4: 'GATEWAY', 6: 'IPV6_DEFAULTGW' };
const routeFile = (iface: string, family: 4 | 6) => `${DIR}/route${family === 6 ? '6' : ''}-${iface}`;

/** Routes of a route file by line; KEYED when it uses the older ADDRESSn=/GATEWAYn= form, which we do not edit. */
function routeFileOf(sys: System, iface: string, family: 4 | 6) {
  const file = routeFile(iface, family);
  const lines = splitLines(sys.readText(file) ?? '');
  const keyed = lines.some((l) => /^\s*[A-Z_]+\d*=/.test(l));
  const routes = lines.flatMap((l, index) => {
    const w = l.trim().split(/\s+/);
    if (keyed || !w[0] || w[0].startsWith('#')) return [];
    const args = new Map<string, string>();
    for (let i = 1; i + 1 < w.length; i += 2) args.set(w[i], w[i + 1]);
    const dev = args.get('dev');
    const r = dev === undefined || dev === iface ? parseRoute(iface, w[0], args.get('via'), args.get('metric'), family) : null;
    return r ? [{ index, route: r }] : [];
  });
  if (keyed) {
    // ADDRESSn=/NETMASKn=/GATEWAYn=/METRICn= (IPv4 only): read for the refusals, never rewritten.
    const v = parse(file, lines.join('\n')).vars;
    for (let n = 0; v.get(`ADDRESS${n}`); n++) {
      const mask = prefixFromNetmask(v.get(`NETMASK${n}`)?.value ?? '32');
      const r = parseRoute(iface, `${v.get(`ADDRESS${n}`)!.value}/${mask ?? 32}`, v.get(`GATEWAY${n}`)?.value, v.get(`METRIC${n}`)?.value, 4);
      if (r) routes.push({ index: -1, route: r });
    }
  }
  return { file, lines, keyed, routes };
}

function routeEntries(sys: System, c: Ifcfg, iface: string): RouteEntry[] {
  const out: RouteEntry[] = [];
  for (const family of [4, 6] as const) {
    const gw = c.vars.get(GATEWAY_KEY[family])?.value.split('%')[0];
    const r = gw ? parseRoute(iface, 'default', gw, undefined, family) : null;
    if (r) out.push({ route: r, file: c.file, ours: false });
    const rf = routeFileOf(sys, iface, family);
    out.push(...rf.routes.map(({ route }) => ({ route, file: rf.file, ours: false, ...(rf.keyed ? { fixed: 'it uses the ADDRESSn= form' } : {}) })));
  }
  // GATEWAYn belongs to the address IPADDRn: the address's, not the interface's.
  for (const [key, v] of c.vars) {
    const r = /^GATEWAY\d+$/.test(key) ? parseRoute(iface, 'default', v.value, undefined, 4) : null;
    if (r) out.push({ route: r, file: c.file, ours: false, fixed: `${key} goes with IPADDR${key.slice(7)}` });
  }
  return out;
}

/** Writes ROUTE into (or out of) the interface's file (a gateway) or its route file; returns the file changed. */
function changeRoute(sys: System, c: Ifcfg, route: PersistRoute, present: boolean, what: string): string {
  const key = GATEWAY_KEY[route.family];
  const gw = c.vars.get(key);
  const asGateway = route.to === 'default' && route.metric === undefined && (present || gw?.value.split('%')[0] === route.via);
  if (asGateway) {
    if (present && gw?.value) throw new PersistError(`ifcfg: ${c.file} already has ${key}=${gw.value}; remove that route first`, c.file);
    const q = c.vars.get('DEVICE')?.quote ?? c.vars.get('BOOTPROTO')?.quote ?? '';
    const lines = present ? [...c.lines, `${key}=${q}${route.via}${q}`] : c.lines.filter((_, i) => i !== gw!.index);
    writeFile(sys, c.file, joinLines(lines), what);
    return c.file;
  }
  const rf = routeFileOf(sys, route.iface, route.family);
  refuseLink(sys, rf.file, what);
  if (rf.keyed) throw new PersistError(`ifcfg: ${rf.file} uses the ADDRESSn= form; refusing to rewrite it, change that file by hand`, rf.file);
  const line = `${destinationText(route)}${route.via ? ` via ${route.via}` : ''} dev ${route.iface}${route.metric !== undefined ? ` metric ${route.metric}` : ''}`;
  const drop = new Set(rf.routes.filter((r) => sameRoute(r.route, route)).map((r) => r.index));
  const lines = present ? [...rf.lines, line] : rf.lines.filter((_, i) => !drop.has(i));
  if (lines.some((l) => l.trim())) writeFile(sys, rf.file, joinLines(lines), what, exists(sys, rf.file) ? {} : { mode: 0o644 });
  else removeFile(sys, rf.file, what);
  return rf.file;
}

export const ifcfg: Backend = {
  name: 'ifcfg',
  survey(sys): Survey | null {
    const names = [...new Set(files(sys).map(deviceOf))].filter((n) => n && n !== 'lo');
    return names.length ? { names, claims: (iface) => names.includes(iface) } : null;
  },
  detect(sys) { return this.survey(sys) !== null; },
  list(sys, iface) {
    try { return entries(fileOf(sys, iface), iface).map((e) => e.addr); } catch { return []; }
  },
  ensure(sys, addr, present): PersistChange {
    const c = fileOf(sys, addr.iface);
    const what = `ifcfg: ${present ? 'adding' : 'removing'} ${cidr(addr)} on ${addr.iface}`;
    refuseLink(sys, c.file, what);
    const step = plan('ifcfg', entries(c, addr.iface), addr, present, c.file);
    if (step.kind === 'none') return { renderer: 'ifcfg', file: step.file, action: 'unchanged' };
    const lines = present ? add(sys, c, addr) : remove(c, addr, addr.iface);
    writeFile(sys, c.file, joinLines(lines), what);
    return { renderer: 'ifcfg', file: c.file, action: present ? 'added' : 'removed' };
  },
  listRoutes(sys, iface) {
    try { return routeEntries(sys, fileOf(sys, iface), iface).map((e) => e.route); } catch { return []; }
  },
  ensureRoute(sys, route, present): PersistChange {
    const c = fileOf(sys, route.iface);
    const what = `ifcfg: ${present ? 'adding' : 'removing'} the route ${routeText(route)} on ${route.iface}`;
    refuseLink(sys, c.file, what);
    const step = planRoute('ifcfg', routeEntries(sys, c, route.iface), route, present, c.file);
    const done = { renderer: 'ifcfg' as const, route: routeText(route) };
    if (step.kind === 'none') return { ...done, file: step.file, action: 'unchanged' };
    return { ...done, file: changeRoute(sys, c, route, present, what), action: present ? 'added' : 'removed' };
  },
};

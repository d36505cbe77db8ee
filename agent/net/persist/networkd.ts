// systemd-networkd: our addresses and routes go into a drop-in of the .network file that configures
// the interface, /etc/systemd/network/NAME.network.d/90-phoenix-ga.conf, as [Address] and [Route]
// sections (a gateway is a [Route] with Gateway= and no Destination=).
// networkd applies only the first .network file (in lexical order of names) whose [Match] fits, so a
// .network file of our own would replace the customer's configuration instead of adding to it.

import type { System } from '../../os/system';
import { cidr, parseCidr, plan, type Entry } from './address';
import { ensureDir, exists, globMatch, listDir, pruneDir, refuseLink, removeFile, writeFile } from './files';
import { parseIni, values } from './ini';
import { destinationText, parseRoute, planRoute, routeText, sameRoute, type RouteEntry } from './route';
import { PersistError, type Address, type Backend, type PersistChange, type PersistRoute, type Survey } from './types';

// By name, a file in an earlier directory hides one in a later directory.
const DIRS = ['/etc/systemd/network', '/run/systemd/network', '/usr/local/lib/systemd/network', '/usr/lib/systemd/network', '/lib/systemd/network'];
const DROPIN = '90-phoenix-ga.conf';
const HEADER = (base: string) => `# Written by phoenix-ga: addresses and routes set through the agent for ${base}.\n# The agent rewrites this file.\n`;

/** Effective files ending in EXT in the directories (each with SUB appended), by name. */
function effective(sys: System, ext: string, sub = ''): string[] {
  const byName = new Map<string, string>();
  for (const d of [...DIRS].reverse()) for (const n of listDir(sys, d + sub)) if (n.endsWith(ext)) byName.set(n, `${d}${sub}/${n}`);
  return [...byName.keys()].sort().map((n) => byName.get(n)!);
}

/** The [Match] Name= list of a .network file: 'all' when it has no [Match] conditions, null when it matches by other keys only. */
function nameMatch(text: string): { patterns: string[]; invert: boolean } | 'all' | null {
  const ini = parseIni(text);
  const match = ini.entries.filter((e) => e.section === 'Match');
  if (!match.length) return 'all';
  let patterns: string[] | null = null;
  // An empty assignment resets the list; later assignments add to it.
  for (const v of values(ini, 'Match', 'Name')) patterns = v ? [...(patterns ?? []), ...v.split(/\s+/)] : [];
  if (patterns === null) return null;
  const invert = patterns[0]?.startsWith('!') ?? false;
  if (invert) patterns[0] = patterns[0].slice(1);
  return { patterns: patterns.filter(Boolean), invert };
}

function matches(m: ReturnType<typeof nameMatch>, iface: string): boolean {
  if (m === 'all') return true;
  if (m === null) return false;
  return m.patterns.some((p) => globMatch(p, iface)) !== m.invert;
}

/** The first .network file (by name) whose [Match] Name= fits IFACE, and how it fits. */
function firstMatch(sys: System, iface: string): { file: string; exact: boolean } | null {
  for (const file of effective(sys, '.network')) {
    const m = nameMatch(sys.readText(file) ?? '');
    if (matches(m, iface)) return { file, exact: m !== 'all' && m !== null && !m.invert && m.patterns.includes(iface) };
  }
  return null;
}

/** The .network file networkd applies to IFACE; refused when none, or when it matches by pattern. */
function networkFile(sys: System, iface: string): string {
  const found = firstMatch(sys, iface);
  if (!found) throw new PersistError(`networkd: no .network file in /etc/systemd/network, /run/systemd/network or /usr/lib/systemd/network matches ${iface} by [Match] Name=`);
  if (!found.exact) {
    throw new PersistError(`networkd: ${iface} is configured by ${found.file}, which matches it by a pattern and so may configure other interfaces too; refusing to add an address to all of them`, found.file);
  }
  return found.file;
}

const dropinOf = (file: string) => `/etc/systemd/network/${file.slice(file.lastIndexOf('/') + 1)}.d/${DROPIN}`;

function addressesIn(text: string, iface: string): Address[] {
  const ini = parseIni(text);
  return ini.entries.filter((e) => (e.section === 'Network' || e.section === 'Address') && e.key === 'Address')
    // 0.0.0.0 and :: ask networkd for a range from its pool: not a static address.
    .map((e) => parseCidr(e.value, iface)).filter((a): a is Address => a !== null && a.address !== '0.0.0.0' && a.address !== '::');
}

function entries(sys: System, iface: string, file: string): Entry[] {
  const base = file.slice(file.lastIndexOf('/') + 1);
  const ours = dropinOf(file);
  return [file, ...effective(sys, '.conf', `/${base}.d`)].flatMap((f) =>
    addressesIn(sys.readText(f) ?? '', iface).map((addr) => ({ addr, file: f, ours: f === ours, ...(f === ours ? {} : { fixed: 'a file of the customer\'s' }) })));
}

/** [Network] Gateway= lines and [Route] sections (each section's keys taken together). */
function routesIn(text: string, iface: string): PersistRoute[] {
  const ini = parseIni(text);
  const out = ini.entries.filter((e) => e.section === 'Network' && e.key === 'Gateway').map((e) => parseRoute(iface, 'default', e.value, undefined));
  const starts = ini.lines.flatMap((l, i) => (/^\s*\[Route\]\s*$/.test(l) ? [i] : []));
  starts.forEach((start, n) => {
    const keys = new Map(ini.entries.filter((e) => e.section === 'Route' && e.index > start && e.index < (starts[n + 1] ?? Infinity)).map((e) => [e.key, e.value]));
    // Gateway=_dhcp4 and the like name no address: not a static route.
    if (keys.has('Gateway') || keys.has('Destination')) out.push(parseRoute(iface, keys.get('Destination') || 'default', keys.get('Gateway') || undefined, keys.get('Metric')));
  });
  return out.filter((r): r is PersistRoute => r !== null);
}

function routeEntries(sys: System, iface: string, file: string): RouteEntry[] {
  const base = file.slice(file.lastIndexOf('/') + 1);
  const ours = dropinOf(file);
  return [file, ...effective(sys, '.conf', `/${base}.d`)].flatMap((f) =>
    routesIn(sys.readText(f) ?? '', iface).map((route) => ({ route, file: f, ours: f === ours, ...(f === ours ? {} : { fixed: 'a file of the customer\'s' }) })));
}

function render(base: string, addrs: string[], routes: PersistRoute[]): string {
  return HEADER(base) + [
    ...addrs.map((a) => `[Address]\nAddress=${a}\n`),
    ...routes.map((r) => `[Route]\n${r.to === 'default' ? '' : `Destination=${destinationText(r)}\n`}${r.via ? `Gateway=${r.via}\n` : ''}${r.metric !== undefined ? `Metric=${r.metric}\n` : ''}`),
  ].join('\n');
}

/** Writes our drop-in for FILE with ADDRS and ROUTES, or removes it (and its directory, when empty) when both are empty. */
function writeDropin(sys: System, file: string, addrs: string[], routes: PersistRoute[], what: string): void {
  const target = dropinOf(file);
  const dir = target.slice(0, target.lastIndexOf('/'));
  if (addrs.length || routes.length) {
    ensureDir(sys, dir, what);
    // networkd reads its files as the systemd-network user: world-readable, like the .network files.
    writeFile(sys, target, render(file.slice(file.lastIndexOf('/') + 1), addrs, routes), what, { mode: 0o644 });
  } else {
    removeFile(sys, target, what);
    pruneDir(sys, dir);
  }
}

export const networkd: Backend = {
  name: 'networkd',
  survey(sys): Survey | null {
    const enabled = listDir(sys, '/etc/systemd/system').some((d) => d.endsWith('.wants') && exists(sys, `/etc/systemd/system/${d}/systemd-networkd.service`));
    const ms = listDir(sys, '/etc/systemd/network').filter((n) => n.endsWith('.network')).map((n) => nameMatch(sys.readText(`/etc/systemd/network/${n}`) ?? ''));
    // A file for lo alone does not make networkd the owner of the network configuration.
    const beyondLo = (m: ReturnType<typeof nameMatch>) => m === 'all' || (m !== null && (m.invert || m.patterns.some((p) => p !== 'lo')));
    if (!enabled || !ms.some(beyondLo)) return null;
    const names = [...new Set(ms.flatMap((m) => (m && m !== 'all' && !m.invert ? m.patterns : [])))].filter((n) => n !== 'lo' && !/[*?[]/.test(n));
    return { names, claims: (iface) => ms.some((m) => matches(m, iface)) };
  },
  detect(sys) { return this.survey(sys) !== null; },
  list(sys, iface) {
    const found = firstMatch(sys, iface);
    return found ? entries(sys, iface, found.file).map((e) => e.addr) : [];
  },
  ensure(sys, addr, present): PersistChange {
    const file = networkFile(sys, addr.iface);
    const target = dropinOf(file);
    const what = `networkd: ${present ? 'adding' : 'removing'} ${cidr(addr)} on ${addr.iface}`;
    refuseLink(sys, target, what);
    const step = plan('networkd', entries(sys, addr.iface, file), addr, present, target);
    if (step.kind === 'none') return { renderer: 'networkd', file: step.file, action: 'unchanged' };
    const text = sys.readText(target) ?? '';
    const mine = addressesIn(text, addr.iface).map(cidr);
    writeDropin(sys, file, present ? [...mine, cidr(addr)] : mine.filter((a) => a !== cidr(addr)), routesIn(text, addr.iface), what);
    return { renderer: 'networkd', file: target, action: present ? 'added' : 'removed' };
  },
  listRoutes(sys, iface) {
    const found = firstMatch(sys, iface);
    return found ? routeEntries(sys, iface, found.file).map((e) => e.route) : [];
  },
  ensureRoute(sys, route, present): PersistChange {
    const file = networkFile(sys, route.iface);
    const target = dropinOf(file);
    const what = `networkd: ${present ? 'adding' : 'removing'} the route ${routeText(route)} on ${route.iface}`;
    refuseLink(sys, target, what);
    const step = planRoute('networkd', routeEntries(sys, route.iface, file), route, present, target);
    const done = { renderer: 'networkd' as const, route: routeText(route) };
    if (step.kind === 'none') return { ...done, file: step.file, action: 'unchanged' };
    const text = sys.readText(target) ?? '';
    const mine = routesIn(text, route.iface);
    writeDropin(sys, file, addressesIn(text, route.iface).map(cidr), present ? [...mine, route] : mine.filter((r) => !sameRoute(r, route)), what);
    return { ...done, file: target, action: present ? 'added' : 'removed' };
  },
};

// netplan: our addresses and routes live in /etc/netplan/90-phoenix-ga.yaml, a file of our own that
// netplan merges with the others (it reads the files in lexical order of their names and appends a
// later file's addresses and routes to the same definition's lists), so cloud-init rewriting
// 50-cloud-init.yaml never drops them. The file is ours and rendered whole; the customer's files are
// only read. A gateway is a route `to: default` (gateway4/gateway6 are deprecated).

import type { System } from '../../os/system';
import { cidr, parseCidr, plan, type Entry } from './address';
import { destinationText, parseRoute, planRoute, routeText, sameRoute, type RouteEntry } from './route';
import { exists, globMatch, listDir, refuseLink, removeFile, writeFile } from './files';
import { PersistError, type Address, type Backend, type PersistChange, type PersistRoute, type Survey } from './types';
import { parseYaml, yamlKey, type Yaml } from './yaml';

export const NETPLAN_FILE = '/etc/netplan/90-phoenix-ga.yaml';
const DIRS = ['/lib/netplan', '/etc/netplan', '/run/netplan'];
const TOOLS = ['/usr/sbin/netplan', '/usr/libexec/netplan/generate', '/lib/netplan/generate', '/usr/lib/netplan/generate'];
const TYPES = ['ethernets', 'bonds', 'bridges', 'vlans', 'wifis', 'tunnels', 'vrfs', 'modems', 'dummy-devices', 'virtual-ethernets', 'nm-devices'];
const HEADER = '# Written by phoenix-ga: addresses and routes set through the agent; netplan appends them to the\n'
  + '# same definition\'s lists in the other files. The agent rewrites this file; edit those instead.\n';

type YamlMap = { [key: string]: Yaml };
const isMap = (y: Yaml | undefined): y is YamlMap => typeof y === 'object' && y !== null && !Array.isArray(y);

/** One network definition (network.TYPE.ID) in one file. */
interface Def { type: string; id: string; file: string; body: YamlMap }

/** Files in effect: by name, /run over /etc over /lib; in lexical order of their names. */
function files(sys: System): string[] {
  const byName = new Map<string, string>();
  for (const d of DIRS) for (const n of listDir(sys, d)) if (n.endsWith('.yaml')) byName.set(n, `${d}/${n}`);
  return [...byName.keys()].sort().map((n) => byName.get(n)!);
}

function defsOf(sys: System, file: string): Def[] {
  const doc = parseYaml(sys.readText(file) ?? '', file);
  const network = isMap(doc) ? doc.network : null;
  if (!isMap(network)) return [];
  return TYPES.flatMap((type) => {
    const group = network[type];
    return isMap(group) ? Object.entries(group).map(([id, body]) => ({ type, id, file, body: isMap(body) ? body : {} })) : [];
  });
}

const customerDefs = (sys: System): Def[] => files(sys).filter((f) => f !== NETPLAN_FILE).flatMap((f) => defsOf(sys, f));

function matchName(d: Def): string | null {
  const m = d.body.match;
  return isMap(m) && typeof m.name === 'string' ? m.name : null;
}

/** The interface a definition names: its set-name, its exact match name, or its ID. */
function claims(d: Def, iface: string): boolean {
  const m = matchName(d);
  return d.body['set-name'] === iface || (m !== null ? globMatch(m, iface) : d.id === iface);
}

function addressesOf(d: Def, iface: string): Address[] {
  const list = Array.isArray(d.body.addresses) ? d.body.addresses : [];
  // An entry is "X/P" or, with options, a one-key mapping { "X/P": { lifetime: ..., label: ... } }.
  return list.map((a) => (typeof a === 'string' ? a : isMap(a) ? Object.keys(a)[0] ?? '' : ''))
    .map((t) => parseCidr(t, iface)).filter((a): a is Address => a !== null);
}

/** A definition's routes: its `routes:` entries and the deprecated gateway4/gateway6 (default routes). */
function routesOf(d: Def, iface: string): PersistRoute[] {
  const list = Array.isArray(d.body.routes) ? d.body.routes : [];
  const str = (y: Yaml | undefined) => (typeof y === 'string' ? y : undefined);
  const out = list.flatMap((r) => (isMap(r) && str(r.to) ? [parseRoute(iface, str(r.to)!, str(r.via), str(r.metric))] : []));
  for (const [key, family] of [['gateway4', 4], ['gateway6', 6]] as const) {
    if (str(d.body[key])) out.push(parseRoute(iface, 'default', str(d.body[key]), undefined, family));
  }
  return out.filter((r): r is PersistRoute => r !== null);
}

/** The one definition that owns IFACE, refused when none does, several do, or it matches by pattern. */
function ownerOf(sys: System, iface: string): Def {
  const defs = customerDefs(sys).filter((d) => claims(d, iface));
  const keys = [...new Set(defs.map((d) => `${d.type}.${d.id}`))];
  if (!keys.length) throw new PersistError(`netplan: ${iface} is not defined in any netplan file; refusing to create a definition that would take it over`);
  if (keys.length > 1) throw new PersistError(`netplan: ${iface} is defined by several netplan definitions (${keys.join(', ')}); refusing to guess`);
  const m = matchName(defs[0]);
  if (m !== null && m !== iface && defs[0].body['set-name'] !== iface) {
    throw new PersistError(`netplan: ${iface} is configured by the definition ${keys[0]} in ${defs[0].file}, which matches the name pattern "${m}" and so may apply to other interfaces too; refusing`, defs[0].file);
  }
  return defs[0];
}

interface Ours { type: string; id: string; addrs: string[]; routes: PersistRoute[] }

/** Our file as (type, id) -> addresses and routes, in file order. */
function readOurs(sys: System): Map<string, Ours> {
  const out = new Map<string, Ours>();
  if (sys.readText(NETPLAN_FILE) === null) return out;
  for (const d of defsOf(sys, NETPLAN_FILE)) {
    const addrs = addressesOf(d, d.id).map(cidr);
    const routes = routesOf(d, d.id);
    if (addrs.length || routes.length) out.set(`${d.type}\0${d.id}`, { type: d.type, id: d.id, addrs, routes });
  }
  return out;
}

function renderRoute(r: PersistRoute): string {
  return `        - to: "${destinationText(r)}"\n` + (r.via ? `          via: "${r.via}"\n` : '') + (r.metric !== undefined ? `          metric: ${r.metric}\n` : '');
}

function render(ours: Map<string, Ours>): string {
  let text = HEADER + 'network:\n  version: 2\n';
  for (const type of [...new Set([...ours.values()].map((o) => o.type))]) {
    text += `  ${type}:\n`;
    for (const o of ours.values()) {
      if (o.type !== type) continue;
      text += `    ${yamlKey(o.id)}:\n`;
      if (o.addrs.length) text += '      addresses:\n' + o.addrs.map((a) => `        - "${a}"\n`).join('');
      if (o.routes.length) text += '      routes:\n' + o.routes.map(renderRoute).join('');
    }
  }
  return text;
}

/** Writes our file, or removes it when nothing is left in it. */
function writeOurs(sys: System, ours: Map<string, Ours>, what: string): void {
  // netplan >= 0.106 warns about (and future versions refuse) files others can read.
  if (ours.size) writeFile(sys, NETPLAN_FILE, render(ours), what, { mode: 0o600 });
  else removeFile(sys, NETPLAN_FILE, what);
}

function routeEntries(sys: System, iface: string, owner: Def | null): RouteEntry[] {
  const theirs = owner ? customerDefs(sys).filter((d) => d.type === owner.type && d.id === owner.id) : [];
  const fixed = 'a netplan file of the customer\'s';
  const out: RouteEntry[] = theirs.flatMap((d) => routesOf(d, iface).map((route) => ({ route, file: d.file, ours: false, fixed })));
  const mine = readOurs(sys).get(`${owner?.type ?? 'ethernets'}\0${owner?.id ?? iface}`);
  for (const r of mine?.routes ?? []) out.push({ route: { ...r, iface }, file: NETPLAN_FILE, ours: true });
  return out;
}

function entries(sys: System, iface: string, owner: Def | null): Entry[] {
  const theirs = owner ? customerDefs(sys).filter((d) => d.type === owner.type && d.id === owner.id) : [];
  const fixed = 'a netplan file of the customer\'s';
  const out: Entry[] = theirs.flatMap((d) => addressesOf(d, iface).map((addr) => ({ addr, file: d.file, ours: false, fixed })));
  const mine = readOurs(sys).get(`${owner?.type ?? 'ethernets'}\0${owner?.id ?? iface}`);
  for (const t of mine?.addrs ?? []) {
    const addr = parseCidr(t, iface);
    if (addr) out.push({ addr, file: NETPLAN_FILE, ours: true });
  }
  return out;
}

export const netplan: Backend = {
  name: 'netplan',
  survey(sys): Survey | null {
    if (!TOOLS.some((t) => exists(sys, t)) || !listDir(sys, '/etc/netplan').some((n) => n.endsWith('.yaml'))) return null;
    const defs = customerDefs(sys);
    if (!defs.length) return null;
    const names = [...new Set(defs.map((d) => (typeof d.body['set-name'] === 'string' ? d.body['set-name'] : matchName(d) ?? d.id)))];
    return { names: names.filter((n) => !/[*?[]/.test(n)), claims: (iface) => defs.some((d) => claims(d, iface)) };
  },
  detect(sys) { return this.survey(sys) !== null; },
  list(sys, iface) {
    // Without the refusals of ensure(): what is configured for IFACE, also through a name pattern.
    return entries(sys, iface, customerDefs(sys).find((d) => claims(d, iface)) ?? null).map((e) => e.addr);
  },
  ensure(sys, addr, present): PersistChange {
    const what = `netplan: ${present ? 'adding' : 'removing'} ${cidr(addr)} on ${addr.iface}`;
    refuseLink(sys, NETPLAN_FILE, what);
    const owner = ownerOf(sys, addr.iface);
    const step = plan('netplan', entries(sys, addr.iface, owner), addr, present, NETPLAN_FILE);
    if (step.kind === 'none') return { renderer: 'netplan', file: step.file, action: 'unchanged' };
    const ours = readOurs(sys);
    const key = `${owner.type}\0${owner.id}`;
    const mine = ours.get(key) ?? { type: owner.type, id: owner.id, addrs: [], routes: [] };
    mine.addrs = present ? [...mine.addrs, cidr(addr)] : mine.addrs.filter((a) => parseCidr(a, addr.iface)?.address !== addr.address);
    if (mine.addrs.length || mine.routes.length) ours.set(key, mine); else ours.delete(key);
    writeOurs(sys, ours, what);
    return { renderer: 'netplan', file: NETPLAN_FILE, action: present ? 'added' : 'removed' };
  },
  listRoutes(sys, iface) {
    return routeEntries(sys, iface, customerDefs(sys).find((d) => claims(d, iface)) ?? null).map((e) => e.route);
  },
  ensureRoute(sys, route, present): PersistChange {
    const what = `netplan: ${present ? 'adding' : 'removing'} the route ${routeText(route)} on ${route.iface}`;
    refuseLink(sys, NETPLAN_FILE, what);
    const owner = ownerOf(sys, route.iface);
    const step = planRoute('netplan', routeEntries(sys, route.iface, owner), route, present, NETPLAN_FILE);
    const done = { renderer: 'netplan' as const, route: routeText(route) };
    if (step.kind === 'none') return { ...done, file: step.file, action: 'unchanged' };
    const ours = readOurs(sys);
    const key = `${owner.type}\0${owner.id}`;
    const mine = ours.get(key) ?? { type: owner.type, id: owner.id, addrs: [], routes: [] };
    mine.routes = present ? [...mine.routes, { ...route, iface: owner.id }] : mine.routes.filter((r) => !sameRoute(r, route));
    if (mine.addrs.length || mine.routes.length) ours.set(key, mine); else ours.delete(key);
    writeOurs(sys, ours, what);
    return { ...done, file: NETPLAN_FILE, action: present ? 'added' : 'removed' };
  },
};

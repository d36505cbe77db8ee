// NetworkManager keyfiles: the address goes into the connection profile that names the interface
// (interface-name= in /etc/NetworkManager/system-connections), as one more addressN= line in [ipv4]
// or [ipv6], every other line kept as it was. NM has no drop-ins for profiles, so the customer's file
// is the only place; an addressN= line stands alone, so removing one is safe unless it carries the
// gateway or is the last address of a method=manual profile. The method is never changed: NM adds
// static addresses to DHCP/SLAAC (method=auto) ones, and refuses addresses with method=disabled.
// Routes likewise: a gateway is the section's gateway= line (NM keeps one per family, and only beside
// a static address; one carried by an address line is never edited), other routes (and a default
// with a metric, or in a profile without a static address) routeN= lines.

import type { System } from '../../os/system';
import { cidr, parseCidr, plan, type Entry } from './address';
import { exists, listDir, refuseLink, writeFile } from './files';
import { joinLines, parseIni, type Ini, type IniLine } from './ini';
import { destinationText, parseRoute, planRoute, routeText, sameRoute, type RouteEntry } from './route';
import { PersistError, type Address, type Backend, type PersistChange, type PersistRoute, type Survey } from './types';

const DIR = '/etc/NetworkManager/system-connections';
// File names NetworkManager's keyfile plugin skips (editor and package manager leftovers).
const SKIPPED = /(^\.|~$|\.(bak|swp|orig|rej|tmp|rpmnew|rpmsave|rpmorig)$|\.(dpkg|ucf)-[^.]+$)/;
const ADDRESS_KEY = /^address(?:es)?(\d*)$/;
const ROUTE_KEY = /^routes?(\d*)$/;
const METHODS: Record<4 | 6, string[]> = { 4: ['auto', 'manual'], 6: ['auto', 'dhcp', 'manual'] };

interface Profile { file: string; ini: Ini }

function profiles(sys: System): Array<Profile & { iface: string }> {
  return listDir(sys, DIR).filter((n) => !SKIPPED.test(n)).flatMap((n) => {
    const file = `${DIR}/${n}`;
    const ini = parseIni(sys.readText(file) ?? '');
    const iface = ini.entries.find((e) => e.section === 'connection' && e.key === 'interface-name')?.value;
    return iface ? [{ file, ini, iface }] : [];
  });
}

function profileOf(sys: System, iface: string): Profile {
  const mine = profiles(sys).filter((p) => p.iface === iface);
  if (!mine.length) throw new PersistError(`networkmanager: no connection profile in ${DIR} has interface-name=${iface}`);
  if (mine.length > 1) throw new PersistError(`networkmanager: several connection profiles have interface-name=${iface} (${mine.map((p) => p.file).join(', ')}); refusing to guess which one is in use`);
  return mine[0];
}

const sectionOf = (family: 4 | 6) => (family === 4 ? 'ipv4' : 'ipv6');
const methodOf = (ini: Ini, family: 4 | 6) => ini.entries.find((e) => e.section === sectionOf(family) && e.key === 'method')?.value ?? 'auto';

/** "X/P", "X/P,GW" or the old "X;P;GW;" form; NM assumes /24 and /64 when the prefix is missing. */
function parseLine(e: IniLine, iface: string, family: 4 | 6): { addr: Address; gateway: boolean } | null {
  const parts = e.value.split(/[,;]/).map((s) => s.trim());
  const text = parts[0].includes('/') || !/^\d+$/.test(parts[1] ?? '') ? parts[0] : `${parts[0]}/${parts[1]}`;
  const gw = parts[0].includes('/') ? parts[1] : parts[2];
  const addr = parseCidr(text, iface, (f) => (f === 4 ? 24 : 64));
  return addr && addr.family === family ? { addr, gateway: !!gw } : null;
}

function addressLines(p: Profile, iface: string, family: 4 | 6): Array<{ line: IniLine; addr: Address; gateway: boolean }> {
  return p.ini.entries.filter((e) => e.section === sectionOf(family) && ADDRESS_KEY.test(e.key))
    .flatMap((line) => { const a = parseLine(line, iface, family); return a ? [{ line, ...a }] : []; });
}

function entries(p: Profile, iface: string): Entry[] {
  return ([4, 6] as const).flatMap((family) => {
    const lines = addressLines(p, iface, family);
    const manual = methodOf(p.ini, family) === 'manual';
    return lines.map(({ addr, gateway }) => {
      const fixed = gateway ? 'the line also carries the gateway' : manual && lines.length === 1 ? `the only address of a ${sectionOf(family)}.method=manual profile` : undefined;
      return { addr, file: p.file, ours: false, ...(fixed ? { fixed } : {}) };
    });
  });
}

function add(p: Profile, addr: Address): string[] {
  const section = sectionOf(addr.family);
  const header = p.ini.headers.get(section);
  if (header === undefined) throw new PersistError(`networkmanager: ${p.file} has no [${section}] section; refusing to guess its method`, p.file);
  const method = methodOf(p.ini, addr.family);
  if (!METHODS[addr.family].includes(method)) {
    throw new PersistError(`networkmanager: ${p.file} has ${section}.method=${method}, with which NetworkManager takes no static address; expected ${METHODS[addr.family].join(' or ')}`, p.file);
  }
  const existing = p.ini.entries.filter((e) => e.section === section && ADDRESS_KEY.test(e.key));
  const n = Math.max(0, ...existing.map((e) => Number(ADDRESS_KEY.exec(e.key)![1] || 0))) + 1;
  // NetworkManager itself writes the address lines first in the section; ours goes after the last one.
  const at = existing.length ? existing[existing.length - 1].index + 1 : header + 1;
  const lines = [...p.ini.lines];
  lines.splice(at, 0, `address${n}=${cidr(addr)}`);
  return lines;
}

/** The routes of PROFILE with the lines that hold them: gateway=, an address line's gateway, routeN=. */
function routeLines(p: Profile, iface: string): Array<{ line: IniLine; route: PersistRoute; fixed?: string }> {
  return ([4, 6] as const).flatMap((family) => p.ini.entries.filter((e) => e.section === sectionOf(family)).flatMap((e) => {
    const parts = e.value.split(/[,;]/).map((x) => x.trim());
    let r: PersistRoute | null = null, fixed: string | undefined;
    if (e.key === 'gateway') r = parseRoute(iface, 'default', e.value, undefined, family);
    else if (ROUTE_KEY.test(e.key)) {
      // "DEST/P,GW,METRIC" or the old "DEST;P;GW;METRIC"; a gateway of 0.0.0.0 or :: is none.
      const [to, via, metric] = parts[0].includes('/') ? [parts[0], parts[1], parts[2]] : [`${parts[0]}/${parts[1]}`, parts[2], parts[3]];
      r = parseRoute(iface, to, via && via !== '0.0.0.0' && via !== '::' ? via : undefined, metric || undefined, family);
    }
    else if (ADDRESS_KEY.test(e.key)) {
      const gw = parseLine(e, iface, family)?.gateway ? (parts[0].includes('/') ? parts[1] : parts[2]) : undefined;
      if (gw) { r = parseRoute(iface, 'default', gw, undefined, family); fixed = `the gateway is part of the address line ${e.key}`; }
    }
    return r ? [{ line: e, route: r, ...(fixed ? { fixed } : {}) }] : [];
  }));
}

function routeEntries(p: Profile, iface: string): RouteEntry[] {
  return routeLines(p, iface).map(({ route, fixed }) => ({ route, file: p.file, ours: false, ...(fixed ? { fixed } : {}) }));
}

function addRoute(p: Profile, r: PersistRoute, iface: string): string[] {
  const section = sectionOf(r.family);
  const header = p.ini.headers.get(section);
  if (header === undefined) throw new PersistError(`networkmanager: ${p.file} has no [${section}] section; refusing to guess its method`, p.file);
  const method = methodOf(p.ini, r.family);
  if (!METHODS[r.family].includes(method)) throw new PersistError(`networkmanager: ${p.file} has ${section}.method=${method}, with which NetworkManager takes no static route; expected ${METHODS[r.family].join(' or ')}`, p.file);
  const inSection = p.ini.entries.filter((e) => e.section === section);
  const asGateway = r.to === 'default' && r.metric === undefined && addressLines(p, iface, r.family).length > 0;
  let line: string;
  if (asGateway) {
    const other = routeLines(p, iface).find((l) => l.route.family === r.family && l.line.key === 'gateway');
    if (other) throw new PersistError(`networkmanager: ${p.file} already has ${section}.gateway=${other.route.via}, and NetworkManager keeps one; remove that route first`, p.file);
    line = `gateway=${r.via}`;
  } else {
    const n = Math.max(0, ...inSection.filter((e) => ROUTE_KEY.test(e.key)).map((e) => Number(ROUTE_KEY.exec(e.key)![1] || 0))) + 1;
    line = `route${n}=${destinationText(r, r.family === 4 ? '0.0.0.0/0' : '::/0')}${r.via ? `,${r.via}` : r.metric !== undefined ? `,${r.family === 4 ? '0.0.0.0' : '::'}` : ''}${r.metric !== undefined ? `,${r.metric}` : ''}`;
  }
  const after = inSection.filter((e) => ADDRESS_KEY.test(e.key) || ROUTE_KEY.test(e.key) || e.key === 'gateway');
  const lines = [...p.ini.lines];
  lines.splice(after.length ? after[after.length - 1].index + 1 : header + 1, 0, line);
  return lines;
}

export const networkmanager: Backend = {
  name: 'networkmanager',
  survey(sys): Survey | null {
    if (!exists(sys, '/usr/sbin/NetworkManager')) return null;
    const names = [...new Set(profiles(sys).map((p) => p.iface))].filter((n) => n !== 'lo');
    return names.length ? { names, claims: (iface) => names.includes(iface) } : null;
  },
  detect(sys) { return this.survey(sys) !== null; },
  list(sys, iface) {
    // Every profile for IFACE counts here, even when ensure() would refuse to choose between them.
    return profiles(sys).filter((x) => x.iface === iface).flatMap((p) => entries(p, iface).map((e) => e.addr));
  },
  ensure(sys, addr, present): PersistChange {
    const p = profileOf(sys, addr.iface);
    const what = `networkmanager: ${present ? 'adding' : 'removing'} ${cidr(addr)} on ${addr.iface}`;
    refuseLink(sys, p.file, what);
    const step = plan('networkmanager', entries(p, addr.iface), addr, present, p.file);
    if (step.kind === 'none') return { renderer: 'networkmanager', file: step.file, action: 'unchanged' };
    const drop = new Set(addressLines(p, addr.iface, addr.family).filter((l) => l.addr.address === addr.address).map((l) => l.line.index));
    const lines = present ? add(p, addr) : p.ini.lines.filter((_, i) => !drop.has(i));
    // No mode given: the profile keeps its 0600 and root owner, which NetworkManager insists on.
    writeFile(sys, p.file, joinLines(lines), what);
    return { renderer: 'networkmanager', file: p.file, action: present ? 'added' : 'removed' };
  },
  listRoutes(sys, iface) {
    return profiles(sys).filter((x) => x.iface === iface).flatMap((p) => routeEntries(p, iface).map((e) => e.route));
  },
  ensureRoute(sys, route, present): PersistChange {
    const p = profileOf(sys, route.iface);
    const what = `networkmanager: ${present ? 'adding' : 'removing'} the route ${routeText(route)} on ${route.iface}`;
    refuseLink(sys, p.file, what);
    const step = planRoute('networkmanager', routeEntries(p, route.iface), route, present, p.file);
    const done = { renderer: 'networkmanager' as const, route: routeText(route) };
    if (step.kind === 'none') return { ...done, file: step.file, action: 'unchanged' };
    // A routeN= line goes with its routeN_options= line.
    const gone = routeLines(p, route.iface).filter((l) => sameRoute(l.route, route)).map((l) => l.line);
    const drop = new Set(p.ini.entries.filter((e) => gone.some((g) => g.section === e.section && (e.index === g.index || e.key === `${g.key}_options`))).map((e) => e.index));
    const lines = present ? addRoute(p, route, route.iface) : p.ini.lines.filter((_, i) => !drop.has(i));
    writeFile(sys, p.file, joinLines(lines), what);
    return { ...done, file: p.file, action: present ? 'added' : 'removed' };
  },
};

// ifupdown: our addresses are stanzas of their own in /etc/network/interfaces.d/phoenix-ga, one
// "iface IFACE inet|inet6 static" per address; ifupdown >= 0.7 brings up every stanza of an
// interface, so they add to the customer's stanza (DHCP or static) without touching it. Our routes
// (a gateway is the route to 'default') come after them, in one "iface IFACE inet|inet6 manual"
// stanza per family, as "up ip route replace ... onlink" lines: replace, so a second ifup does not
// fail on the route the first made; onlink, since Debian sources interfaces.d before the customer's
// stanzas, so a gateway on the subnet of the customer's address is brought up before that address.
// Refused when /etc/network/interfaces does not source that file, since then it would never be read.

import path = require('path');
import type { System } from '../../os/system';
import { cidr, classfulPrefix, parseCidr, plan, prefixFromNetmask, type Entry } from './address';
import { ensureDir, exists, globMatch, isDir, listDir, refuseLink, removeFile, writeFile } from './files';
import { destinationText, parseRoute, planRoute, routeText, sameRoute, type RouteEntry } from './route';
import { PersistError, type Address, type Backend, type PersistChange, type PersistRoute, type Survey } from './types';

export const IFUPDOWN_FILE = '/etc/network/interfaces.d/phoenix-ga';
const MAIN = '/etc/network/interfaces';
const HEADER = '# Written by phoenix-ga: addresses and routes set through the agent; ifupdown adds these stanzas to the\n'
  + '# interface\'s own. The agent rewrites this file.\n';
const STANZAS = /^(iface|mapping|auto|allow-\S+|source|source-directory|rename|no-auto-down|no-scripts)\b/;

interface Stanza { file: string; name: string; family: string; method: string; options: Array<[string, string]> }
interface Config { stanzas: Stanza[]; includes: Array<{ dir: string; pattern: string | null }> }

/** Reads FILE and what it sources, in ifupdown's order (a source line is read where it stands). */
function read(sys: System, file: string, out: Config = { stanzas: [], includes: [] }, depth = 0): Config {
  const text = sys.readText(file);
  if (text === null || depth > 8) return out;
  let current: Stanza | null = null;
  // A line ending in a backslash goes on on the next line.
  for (const line of text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim())) {
    if (!line || line[0] === '#') continue;
    const [word, ...args] = line.split(/\s+/);
    if (!STANZAS.test(word)) {
      if (current) current.options.push([word, args.join(' ')]);
      continue;
    }
    current = null;
    if (word === 'iface') {
      current = { file, name: args[0] ?? '', family: args[1] ?? '', method: args[2] ?? '', options: [] };
      out.stanzas.push(current);
    } else if (word === 'source' || word === 'source-directory') {
      // Relative paths are relative to the directory of the file that names them.
      const p = path.posix.resolve(path.posix.dirname(file), args.join(' '));
      const dir = word === 'source' ? path.posix.dirname(p) : p;
      const pattern = word === 'source' ? path.posix.basename(p) : null;
      out.includes.push({ dir, pattern });
      for (const n of listDir(sys, dir)) {
        // glob(3) lets "*" match no leading dot (editor files, our own .phoenix-ga.phoenix-new).
        const wanted = pattern === null ? /^[a-zA-Z0-9_-]+$/.test(n) : globMatch(pattern, n) && (n[0] !== '.' || pattern[0] === '.');
        if (wanted && !isDir(sys, `${dir}/${n}`)) read(sys, `${dir}/${n}`, out, depth + 1);
      }
    }
  }
  return out;
}

const sourcesOurs = (c: Config) => c.includes.some((i) => i.dir === path.posix.dirname(IFUPDOWN_FILE)
  && (i.pattern === null || globMatch(i.pattern, path.posix.basename(IFUPDOWN_FILE))));

/** The stanza's addresses: "address X[/P]" (with netmask), and "up ip addr add X/P dev IFACE" lines. */
function addressesOf(s: Stanza, iface: string): Address[] {
  const out: Address[] = [];
  const fam = s.family === 'inet6' ? 6 : 4;
  const mask = s.options.find(([k]) => k === 'netmask')?.[1];
  const fallback = (f: 4 | 6, a: string) => (mask ? prefixFromNetmask(mask) : f === 4 ? classfulPrefix(a) : 128);
  for (const [k, v] of s.options) {
    let a: Address | null = null;
    if (k === 'address' && s.method === 'static') a = parseCidr(v, iface, fallback);
    const up = /^(?:\S*\/)?ip\s+(?:-[46]\s+)?a(?:d|dd|ddr|ddress)?\s+add\s+(\S+)\s.*\bdev\s+(\S+)/.exec(v);
    if ((k === 'up' || k === 'post-up') && up && (up[2] === iface || up[2].startsWith(iface + ':'))) a = parseCidr(up[1], iface, (f) => (f === 4 ? 32 : 128));
    if (a && (k !== 'address' || a.family === fam)) out.push(a);
  }
  return out;
}

const forIface = (s: Stanza, iface: string) => s.name === iface || s.name.startsWith(iface + ':');

function entries(c: Config, iface: string): Entry[] {
  return c.stanzas.filter((s) => forIface(s, iface)).flatMap((s) => addressesOf(s, iface).map((addr) => ({
    addr, file: s.file, ours: s.file === IFUPDOWN_FILE, ...(s.file === IFUPDOWN_FILE ? {} : { fixed: 'a stanza of the customer\'s' }),
  })));
}

/**
 * A static inet6 stanza sets net.ipv6.conf.IFACE.autoconf (default 0), which would stop SLAAC on an
 * interface the customer left to router advertisements; ours repeats what the customer's config implies.
 */
function autoconfOf(c: Config, iface: string): string {
  const theirs = c.stanzas.filter((s) => s.file !== IFUPDOWN_FILE && s.name === iface && s.family === 'inet6');
  const explicit = theirs.map((s) => s.options.find(([k]) => k === 'autoconf')?.[1]).find((v) => v !== undefined);
  return explicit ?? (theirs.some((s) => s.method === 'static') ? '0' : '1');
}

/** The stanza's routes: "gateway X" (with its "metric"), and "up ip route add|replace ... dev IFACE" lines. */
function routesOf(s: Stanza, iface: string): PersistRoute[] {
  const fam = s.family === 'inet6' ? 6 : s.family === 'inet' ? 4 : undefined;
  const out: Array<PersistRoute | null> = [];
  const gateway = s.options.find(([k]) => k === 'gateway')?.[1];
  if (gateway && s.method === 'static') out.push(parseRoute(iface, 'default', gateway, s.options.find(([k]) => k === 'metric')?.[1], fam));
  for (const [k, v] of s.options) {
    const m = /^(?:\S*\/)?ip\s+(?:-([46])\s+)?r(?:o|ou|out|oute)?\s+(?:add|replace|append)\s+(\S+)((?:\s+\S+\s+\S+|\s+onlink)*)\s*$/.exec(v);
    if ((k !== 'up' && k !== 'post-up') || !m) continue;
    const args = new Map<string, string>();
    const words = m[3].trim().split(/\s+/).filter((w) => w !== 'onlink');
    for (let i = 0; i + 1 < words.length; i += 2) args.set(words[i], words[i + 1]);
    const dev = args.get('dev');
    if (dev === iface || dev?.startsWith(iface + ':')) out.push(parseRoute(iface, m[2], args.get('via'), args.get('metric'), m[1] ? (Number(m[1]) as 4 | 6) : fam));
  }
  return out.filter((r): r is PersistRoute => r !== null);
}

function routeEntries(c: Config, iface: string): RouteEntry[] {
  return c.stanzas.filter((s) => forIface(s, iface)).flatMap((s) => routesOf(s, iface).map((route) => ({
    route, file: s.file, ours: s.file === IFUPDOWN_FILE, ...(s.file === IFUPDOWN_FILE ? {} : { fixed: 'a stanza of the customer\'s' }),
  })));
}

/** What our file holds: the addresses of its static stanzas, the routes of its manual ones. */
function readOurs(c: Config): { addrs: Address[]; routes: PersistRoute[] } {
  const mine = c.stanzas.filter((s) => s.file === IFUPDOWN_FILE);
  return { addrs: mine.flatMap((s) => addressesOf(s, s.name)), routes: mine.filter((s) => s.method === 'manual').flatMap((s) => routesOf(s, s.name)) };
}

const routeLine = (r: PersistRoute): string =>
  `\tup ip -${r.family} route replace ${destinationText(r)}${r.via ? ` via ${r.via}` : ''} dev ${r.iface}${r.metric !== undefined ? ` metric ${r.metric}` : ''}${r.via ? ' onlink' : ''}\n`;

function render(c: Config, ours: Address[], routes: PersistRoute[]): string {
  const stanzas = ours.map((a) => `iface ${a.iface} inet${a.family === 6 ? '6' : ''} static\n\taddress ${cidr(a)}\n`
    + (a.family === 6 ? `\tautoconf ${autoconfOf(c, a.iface)}\n` : ''));
  // After the addresses: a route through a gateway needs an address on the gateway's subnet.
  for (const key of new Set(routes.map((r) => `${r.iface} ${r.family}`))) {
    const [iface, family] = key.split(' ');
    stanzas.push(`iface ${iface} inet${family === '6' ? '6' : ''} manual\n` + routes.filter((r) => `${r.iface} ${r.family}` === key).map(routeLine).join(''));
  }
  return HEADER + stanzas.join('\n');
}

/** Refuses a change for IFACE when ifupdown does not bring it up or would not read our file. */
function checkReadable(c: Config, iface: string): void {
  if (!c.stanzas.some((s) => s.file !== IFUPDOWN_FILE && s.name === iface)) {
    throw new PersistError(`ifupdown: ${MAIN} and the files it sources have no "iface ${iface}" stanza; refusing to configure an interface ifupdown does not bring up`, MAIN);
  }
}

function checkSourced(c: Config): void {
  if (!sourcesOurs(c)) {
    throw new PersistError(`ifupdown: ${MAIN} does not source ${path.posix.dirname(IFUPDOWN_FILE)} ("source ${path.posix.dirname(IFUPDOWN_FILE)}/*" or "source-directory ${path.posix.dirname(IFUPDOWN_FILE)}"); refusing to write a file ifupdown would not read`, MAIN);
  }
}

/** Writes our file, or removes it when nothing is left in it. */
function writeOurs(sys: System, c: Config, addrs: Address[], routes: PersistRoute[], what: string): void {
  if (addrs.length || routes.length) {
    ensureDir(sys, path.posix.dirname(IFUPDOWN_FILE), what);
    writeFile(sys, IFUPDOWN_FILE, render(c, addrs, routes), what, { mode: 0o644 });
  } else removeFile(sys, IFUPDOWN_FILE, what);
}

export const ifupdown: Backend = {
  name: 'ifupdown',
  survey(sys): Survey | null {
    if (!exists(sys, '/sbin/ifup') && !exists(sys, '/usr/sbin/ifup')) return null;
    const names = [...new Set(read(sys, MAIN).stanzas.filter((s) => s.file !== IFUPDOWN_FILE).map((s) => s.name.split(':')[0]))].filter((n) => n !== 'lo');
    return names.length ? { names, claims: (iface) => names.includes(iface) } : null;
  },
  detect(sys) { return this.survey(sys) !== null; },
  list(sys, iface) { return entries(read(sys, MAIN), iface).map((e) => e.addr); },
  ensure(sys, addr, present): PersistChange {
    const what = `ifupdown: ${present ? 'adding' : 'removing'} ${cidr(addr)} on ${addr.iface}`;
    refuseLink(sys, IFUPDOWN_FILE, what);
    const c = read(sys, MAIN);
    checkReadable(c, addr.iface);
    const step = plan('ifupdown', entries(c, addr.iface), addr, present, IFUPDOWN_FILE);
    if (step.kind === 'none') return { renderer: 'ifupdown', file: step.file, action: 'unchanged' };
    checkSourced(c);
    const ours = readOurs(c);
    const next = present ? [...ours.addrs, addr] : ours.addrs.filter((a) => !(a.iface === addr.iface && a.family === addr.family && a.address === addr.address));
    writeOurs(sys, c, next, ours.routes, what);
    return { renderer: 'ifupdown', file: IFUPDOWN_FILE, action: present ? 'added' : 'removed' };
  },
  listRoutes(sys, iface) { return routeEntries(read(sys, MAIN), iface).map((e) => e.route); },
  ensureRoute(sys, route, present): PersistChange {
    const what = `ifupdown: ${present ? 'adding' : 'removing'} the route ${routeText(route)} on ${route.iface}`;
    refuseLink(sys, IFUPDOWN_FILE, what);
    const c = read(sys, MAIN);
    checkReadable(c, route.iface);
    const step = planRoute('ifupdown', routeEntries(c, route.iface), route, present, IFUPDOWN_FILE);
    const done = { renderer: 'ifupdown' as const, route: routeText(route) };
    if (step.kind === 'none') return { ...done, file: step.file, action: 'unchanged' };
    checkSourced(c);
    const ours = readOurs(c);
    const next = present ? [...ours.routes, route] : ours.routes.filter((r) => !(r.iface === route.iface && sameRoute(r, route)));
    writeOurs(sys, c, ours.addrs, next, what);
    return { ...done, file: IFUPDOWN_FILE, action: present ? 'added' : 'removed' };
  },
};

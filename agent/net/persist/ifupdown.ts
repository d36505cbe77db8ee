// ifupdown: our addresses are stanzas of their own in /etc/network/interfaces.d/phoenix-ga, one
// "iface IFACE inet|inet6 static" per address; ifupdown >= 0.7 brings up every stanza of an
// interface, so they add to the customer's stanza (DHCP or static) without touching it. Refused when
// /etc/network/interfaces does not source that file, since then it would never be read.

import path = require('path');
import type { System } from '../../os/system';
import { cidr, classfulPrefix, parseCidr, plan, prefixFromNetmask, type Entry } from './address';
import { ensureDir, exists, globMatch, isDir, listDir, refuseLink, removeFile, writeFile } from './files';
import { PersistError, type Address, type Backend, type PersistChange, type Survey } from './types';

export const IFUPDOWN_FILE = '/etc/network/interfaces.d/phoenix-ga';
const MAIN = '/etc/network/interfaces';
const HEADER = '# Written by phoenix-ga: addresses added through the agent; ifupdown adds these stanzas to the\n'
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

function render(c: Config, ours: Address[]): string {
  return HEADER + ours.map((a) => `iface ${a.iface} inet${a.family === 6 ? '6' : ''} static\n\taddress ${cidr(a)}\n`
    + (a.family === 6 ? `\tautoconf ${autoconfOf(c, a.iface)}\n` : '')).join('\n');
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
    if (!c.stanzas.some((s) => s.file !== IFUPDOWN_FILE && s.name === addr.iface)) {
      throw new PersistError(`ifupdown: ${MAIN} and the files it sources have no "iface ${addr.iface}" stanza; refusing to configure an interface ifupdown does not bring up`, MAIN);
    }
    const step = plan('ifupdown', entries(c, addr.iface), addr, present, IFUPDOWN_FILE);
    if (step.kind === 'none') return { renderer: 'ifupdown', file: step.file, action: 'unchanged' };
    if (!sourcesOurs(c)) {
      throw new PersistError(`ifupdown: ${MAIN} does not source ${path.posix.dirname(IFUPDOWN_FILE)} ("source ${path.posix.dirname(IFUPDOWN_FILE)}/*" or "source-directory ${path.posix.dirname(IFUPDOWN_FILE)}"); refusing to write a file ifupdown would not read`, MAIN);
    }
    const ours = c.stanzas.filter((s) => s.file === IFUPDOWN_FILE).flatMap((s) => addressesOf(s, s.name));
    const next = present ? [...ours, addr] : ours.filter((a) => !(a.iface === addr.iface && a.family === addr.family && a.address === addr.address));
    if (next.length) {
      ensureDir(sys, path.posix.dirname(IFUPDOWN_FILE), what);
      writeFile(sys, IFUPDOWN_FILE, render(c, next), what, { mode: 0o644 });
    } else removeFile(sys, IFUPDOWN_FILE, what);
    return { renderer: 'ifupdown', file: IFUPDOWN_FILE, action: present ? 'added' : 'removed' };
  },
};

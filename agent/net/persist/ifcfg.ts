// RHEL ifcfg files: the address goes into /etc/sysconfig/network-scripts/ifcfg-IFACE, the only
// place both readers of it look (initscripts' ifup and NetworkManager's ifcfg-rh): IPv4 as an
// IPADDRn=/PREFIXn= pair, IPv6 as one more word of IPV6ADDR_SECONDARIES. Every other line is kept.
// The primary address (IPADDR, IPADDR0, IPV6ADDR) and one with its own GATEWAYn are never removed.

import type { System } from '../../os/system';
import { cidr, classfulPrefix, parseCidr, plan, prefixFromNetmask, type Entry } from './address';
import { exists, listDir, refuseLink, writeFile } from './files';
import { joinLines, splitLines } from './ini';
import { PersistError, type Address, type Backend, type PersistChange, type Survey } from './types';

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
};

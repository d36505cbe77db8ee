// Copies of the configuration files a renderer may write, taken just before a confirmation
// persists a transaction, and put back when persisting fails or the agent died in the middle of
// it. Only files that differ are rewritten, and only our own files (named phoenix-ga) and the
// files the renderer may create for the interface (recorded as absent) are removed when they did
// not exist, so the customer's files are never touched unless we had changed them.

import fs = require('fs');
import type { System } from '../os/system';
import { exists, listDir, removeFile, writeFile } from './persist/files';
import type { RendererName } from './persist';
import type { FileCopy } from './transaction-store';

const DIRS: Record<RendererName, string[]> = {
  ifupdown: ['/etc/network', '/etc/network/interfaces.d'],
  netplan: ['/etc/netplan'],
  networkmanager: ['/etc/NetworkManager/system-connections'],
  networkd: ['/etc/systemd/network'],
  ifcfg: ['/etc/sysconfig/network-scripts'],
};
const MAX_FILES = 256;
const MAX_BYTES = 1 << 20;

/** Regular files (not links) in the renderer's directories, and networkd's drop-in directories. */
function candidates(sys: System, renderer: RendererName): string[] {
  const dirs = [...DIRS[renderer]];
  if (renderer === 'networkd') for (const n of listDir(sys, '/etc/systemd/network')) if (n.endsWith('.d')) dirs.push(`/etc/systemd/network/${n}`);
  const out: string[] = [];
  for (const d of dirs) {
    for (const n of listDir(sys, d)) {
      const p = `${d}/${n}`;
      try { if (fs.lstatSync(sys.at(p)).isFile()) out.push(p); } catch { /* gone */ }
    }
  }
  return out;
}

/** Files the renderer creates for IFACE when it has none, beside the ones named phoenix-ga. */
const created = (renderer: RendererName, iface: string): string[] =>
  (renderer === 'ifcfg' ? [`${DIRS.ifcfg[0]}/route-${iface}`, `${DIRS.ifcfg[0]}/route6-${iface}`] : []);

export function copyConfigFiles(sys: System, renderer: RendererName, iface: string): FileCopy[] {
  const files = candidates(sys, renderer);
  const absent = created(renderer, iface).filter((p) => !exists(sys, p)).map((p) => ({ path: p, text: null, mode: 0o644, absent: true }));
  if (files.length > MAX_FILES) throw new Error(`more than ${MAX_FILES} files in ${DIRS[renderer].join(', ')}; refusing to copy them`);
  return files.map((p) => {
    const st = fs.statSync(sys.at(p));
    if (st.size > MAX_BYTES) throw new Error(`${p} is larger than ${MAX_BYTES} bytes; refusing to copy it`);
    return { path: p, text: sys.readText(p), mode: st.mode & 0o7777 };
  }).concat(absent);
}

/** Puts the copies back; returns the files it rewrote or removed. */
export function restoreConfigFiles(sys: System, renderer: RendererName, copies: FileCopy[]): string[] {
  const changed: string[] = [];
  const what = 'restoring the network configuration';
  for (const c of copies) {
    if (c.text === null || sys.readText(c.path) === c.text) continue;
    writeFile(sys, c.path, c.text, what, { mode: c.mode });
    changed.push(c.path);
  }
  const known = new Set(copies.filter((c) => !c.absent).map((c) => c.path));
  const absent = new Set(copies.filter((c) => c.absent).map((c) => c.path));
  for (const p of candidates(sys, renderer)) {
    if (known.has(p) || !(p.includes('phoenix-ga') || absent.has(p))) continue;
    removeFile(sys, p, what);
    if (!exists(sys, p)) changed.push(p);
  }
  return changed;
}

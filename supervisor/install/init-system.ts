// Which init system a target tree boots with, from what is on disk (the tree may be a mounted
// customer image: nothing in it is run). An unfamiliar or contradictory layout is refused.

import * as fs from 'fs';
import * as path from 'path';

export type InitSystem = 'systemd' | 'sysvinit' | 'upstart';
export type InitDetection = { ok: true; init: InitSystem; evidence: string } | { ok: false; reason: string };

/** Follows symlinks inside ROOT (an absolute link target means ROOT + target), at most 16 hops. */
export function resolveInRoot(root: string, p: string): string | null {
  let cur = p;
  for (let i = 0; i < 16; i++) {
    let st: fs.Stats;
    try { st = fs.lstatSync(path.join(root, cur)); } catch { return null; }
    if (!st.isSymbolicLink()) return cur;
    const t = fs.readlinkSync(path.join(root, cur));
    cur = t.startsWith('/') ? t : path.join(path.dirname(cur), t);
  }
  return null;
}

function fileHas(file: string, needle: string): boolean {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(4 << 20);
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      return buf.subarray(0, n).includes(needle);
    } finally { fs.closeSync(fd); }
  } catch { return false; }
}

export function detectInit(root: string): InitDetection {
  const init = resolveInRoot(root, '/sbin/init');
  const at = (p: string) => path.join(root, p);
  if (!init) return { ok: false, reason: `${at('/sbin/init')} does not exist: not a Linux system tree, or an init this installer does not know` };
  const found: Array<{ init: InitSystem; evidence: string }> = [];
  if (/systemd$/.test(init)) found.push({ init: 'systemd', evidence: `/sbin/init -> ${init}` });
  else if (fileHas(at(init), 'upstart') && fs.existsSync(at('/sbin/initctl'))) found.push({ init: 'upstart', evidence: `${init} is upstart (and /sbin/initctl exists)` });
  else if (fs.existsSync(at('/etc/inittab')) && fileHas(at(init), 'inittab')) found.push({ init: 'sysvinit', evidence: `${init} is sysvinit and /etc/inittab exists` });
  // A second init's traces that would also start us (or fight over the service) make the layout ambiguous.
  if (found[0]?.init === 'sysvinit' && fs.existsSync(at('/etc/init')) && fs.existsSync(at('/sbin/initctl'))) {
    return { ok: false, reason: 'both sysvinit (/etc/inittab) and upstart (/etc/init, /sbin/initctl) are present; refusing to guess (use --init)' };
  }
  if (found.length === 1) return { ok: true, ...found[0] };
  return { ok: false, reason: `${init} is not an init this installer knows (systemd, sysvinit with /etc/inittab, upstart with /etc/init); use --init to choose one` };
}

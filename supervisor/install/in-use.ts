// Which processes run from a directory: their executable, a file they have mapped (the runtime
// and its libraries), or a script on their command line (the bundles Node read at start). The
// installer never deletes a version directory a process still uses, and an upgrade is checked by
// the versions its processes run from.

import * as fs from 'fs';

export interface ProcessUse { pid: number; comm: string; exe: string }

function read(p: string): string {
  try { return fs.readFileSync(p, 'utf8'); } catch { return ''; }
}

/** Every live process but this one, with its executable ("" when we may not see it). */
export function processes(): ProcessUse[] {
  const out: ProcessUse[] = [];
  let names: string[] = [];
  // No /proc (a chroot without it): no process can be seen, so none is counted.
  try { names = fs.readdirSync('/proc'); } catch { return out; }
  for (const name of names) {
    const pid = Number(name);
    if (!/^\d+$/.test(name) || pid === process.pid) continue;
    let exe = '';
    try { exe = fs.readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, ''); } catch { /* a kernel thread, gone, or not ours to see */ }
    out.push({ pid, comm: read(`/proc/${pid}/comm`).trim(), exe });
  }
  return out;
}

const under = (file: string, dir: string) => file === dir || file.startsWith(`${dir}/`);

/** The files a process has mapped, each with " (deleted)" when it is gone from disk. */
function mapped(pid: number): string[] {
  // The path is the last field of a line and the only one with a slash.
  return [...new Set(read(`/proc/${pid}/maps`).split('\n').filter((l) => l.includes('/')).map((l) => l.slice(l.indexOf('/'))))];
}

/** The processes that use anything under DIR (a path as this process sees it). */
export function processesUsing(dir: string): ProcessUse[] {
  return processes().filter((p) => {
    if (under(p.exe, dir)) return true;
    if (mapped(p.pid).some((f) => under(f.replace(/ \(deleted\)$/, ''), dir))) return true;
    return read(`/proc/${p.pid}/cmdline`).split('\0').some((a) => under(a, dir));
  });
}

/**
 * What a process runs from that no longer exists on disk: "(deleted)" on its exe link or a mapped
 * file (anonymous memory files, /memfd:..., are not files on disk).
 */
export function deletedFilesOf(pid: number): string[] {
  let exe = '';
  try { exe = fs.readlinkSync(`/proc/${pid}/exe`); } catch { /* gone */ }
  return [exe, ...mapped(pid)].filter((f) => f.endsWith(' (deleted)') && !f.startsWith('/memfd:'));
}

export function describe(ps: ProcessUse[]): string {
  return ps.map((p) => `pid ${p.pid} (${p.comm || '?'})`).join(', ');
}

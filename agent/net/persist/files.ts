// File access for the renderers, all under sys.root: directory listings and existence (read-only,
// through sys.at), and writes through sys.writeText after checking that no directory on the way is a
// symbolic link, so a planted link can never send a write outside the root. System has no mkdir or
// rmdir yet; ensureDir and pruneDir are the only two direct fs writes here, under the same check.

import fs = require('fs');
import path = require('path');
import type { System } from '../../os/system';
import { PersistError } from './types';

/** Names in DIR, sorted as C's strcmp sorts them (the order netplan, networkd and run-parts use). */
export function listDir(sys: System, dir: string): string[] {
  try {
    return fs.readdirSync(sys.at(dir)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  } catch {
    return [];
  }
}

/** Whether P exists (a dangling symbolic link counts: it is there, and it is not ours to replace). */
export function exists(sys: System, p: string): boolean {
  try { fs.lstatSync(sys.at(p)); return true; } catch { return false; }
}

export function isDir(sys: System, p: string): boolean {
  try { return fs.statSync(sys.at(p)).isDirectory(); } catch { return false; }
}

/** Refuses when any existing directory between the root and P is a symbolic link. */
function checkParents(sys: System, p: string, what: string): void {
  const parts = path.posix.dirname(path.posix.normalize(p)).split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const dir = '/' + parts.slice(0, i).join('/');
    let st: fs.Stats;
    try { st = fs.lstatSync(sys.at(dir)); } catch { return; }
    if (st.isSymbolicLink()) throw new PersistError(`${what}: ${dir} is a symbolic link; refusing to write through it`, p);
  }
}

/** Refuses up front when P, or a directory on the way to it, is a symbolic link (before it is even read). */
export function refuseLink(sys: System, p: string, what: string): void {
  checkParents(sys, p, what);
  let link = false;
  try { link = fs.lstatSync(sys.at(p)).isSymbolicLink(); } catch { /* absent */ }
  if (link) throw new PersistError(`${what}: ${p} is a symbolic link; refusing to write through it`, p);
}

/** Writes P atomically (MODE, when given, also replaces an existing file's mode), with a clear error on refusal. */
export function writeFile(sys: System, p: string, text: string, what: string, opts: { mode?: number } = {}): void {
  checkParents(sys, p, what);
  try {
    sys.writeText(p, text, opts.mode === undefined ? {} : { mode: opts.mode });
  } catch (e) {
    throw new PersistError(`${what}: cannot write ${p}: ${(e as Error).message}`, p, e);
  }
}

export function removeFile(sys: System, p: string, what: string): void {
  checkParents(sys, p, what);
  if (!sys.remove(p) && exists(sys, p)) throw new PersistError(`${what}: cannot remove ${p}`, p);
}

/** Creates DIR and missing parents, 0755 whatever the umask (networkd reads as its own user). */
export function ensureDir(sys: System, dir: string, what: string): void {
  checkParents(sys, path.posix.join(dir, 'x'), what);
  const parts = path.posix.normalize(dir).split('/').filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const d = '/' + parts.slice(0, i).join('/');
    if (exists(sys, d)) continue;
    try {
      fs.mkdirSync(sys.at(d));
      fs.chmodSync(sys.at(d), 0o755);
    } catch (e) {
      throw new PersistError(`${what}: cannot create ${d}: ${(e as Error).message}`, d, e);
    }
  }
}

/** Removes DIR if it is empty (a directory we created for our file alone). */
export function pruneDir(sys: System, dir: string): void {
  try { fs.rmdirSync(sys.at(dir)); } catch { /* not empty, or gone: leave it */ }
}

/** fnmatch(3) without flags: *, ? and [...] classes (with ! or ^ negation). */
export function globMatch(pattern: string, name: string): boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[' && pattern.indexOf(']', i + 2) > 0) {
      const end = pattern.indexOf(']', i + 2);
      let body = pattern.slice(i + 1, end);
      if (body[0] === '!') body = '^' + body.slice(1);
      re += '[' + body.replace(/\\/g, '\\\\') + ']';
      i = end;
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${re}$`).test(name);
}

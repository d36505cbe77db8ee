// File operations of the installer, under a target root: every write is NAME.phoenix-new then a
// rename (a run cut short leaves the old file or the new one), unchanged content is not rewritten
// (a second run changes nothing), and symlinks in the way are refused, not followed.

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

export class TreeError extends Error {}

export interface TreeFiles {
  root: string;
  at(p: string): string;
  exists(p: string): boolean;
  read(p: string): string | null;
  /** Writes P when its content differs; true when it did. */
  put(p: string, data: string | Buffer, mode: number): boolean;
  /** Copies a large file (the runtime) when it differs. */
  copy(src: string, p: string, mode: number): boolean;
  symlink(target: string, p: string): boolean;
  remove(p: string): boolean;
  mkdir(p: string, mode: number): void;
}

function sha256File(f: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(f, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  } finally { fs.closeSync(fd); }
  return h.digest('hex');
}

/**
 * The host path of P inside ROOT, with the directories on the way resolved as the target system
 * would resolve them: an absolute symlink (/sbin -> /usr/sbin in some images) points inside the
 * root, never at the host's own files. The last component is not followed.
 */
export function inRoot(root: string, p: string): string {
  const parts = p.split('/').filter(Boolean);
  let cur: string[] = [];
  for (let i = 0, hops = 0; i < parts.length; i++) {
    const name = parts[i];
    if (name === '.') continue;
    if (name === '..') { cur.pop(); continue; }
    const next = [...cur, name];
    const host = path.join(root, ...next);
    let st: fs.Stats | null = null;
    try { st = fs.lstatSync(host); } catch { /* does not exist (yet) */ }
    if (st?.isSymbolicLink() && i < parts.length - 1) {
      if (++hops > 32) throw new TreeError(`${p}: too many symbolic links`);
      const t = fs.readlinkSync(host);
      const rest = parts.slice(i + 1);
      const base = t.startsWith('/') ? [] : cur;
      parts.splice(0, parts.length, ...base, ...t.split('/').filter(Boolean), ...rest);
      cur = [];
      i = -1;
      continue;
    }
    cur = next;
  }
  return path.join(root, ...cur);
}

export function treeFiles(root: string): TreeFiles {
  const at = (p: string) => inRoot(root, p);
  const noLinkOnPath = (p: string): void => {
    let st: fs.Stats;
    try { st = fs.lstatSync(at(p)); } catch { return; }
    if (st.isSymbolicLink()) throw new TreeError(`${p} is a symbolic link; refusing to write through it`);
  };
  const atomic = (p: string, write: (tmp: string) => void, mode: number): void => {
    noLinkOnPath(p);
    fs.mkdirSync(path.dirname(at(p)), { recursive: true, mode: 0o755 });
    const tmp = `${at(p)}.phoenix-new`;
    try { fs.unlinkSync(tmp); } catch { /* none */ }
    write(tmp);
    fs.chmodSync(tmp, mode);
    const fd = fs.openSync(tmp, 'r');
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
    fs.renameSync(tmp, at(p));
  };
  return {
    root,
    at,
    exists: (p) => { try { fs.lstatSync(at(p)); return true; } catch { return false; } },
    read: (p) => { try { return fs.readFileSync(at(p), 'utf8'); } catch { return null; } },
    put(p, data, mode) {
      const want = Buffer.isBuffer(data) ? data : Buffer.from(data);
      try {
        const st = fs.lstatSync(at(p));
        if (st.isFile() && (st.mode & 0o7777) === mode && fs.readFileSync(at(p)).equals(want)) return false;
      } catch { /* absent */ }
      atomic(p, (tmp) => fs.writeFileSync(tmp, want, { mode, flag: 'wx' }), mode);
      return true;
    },
    copy(src, p, mode) {
      try {
        const st = fs.lstatSync(at(p));
        if (st.isFile() && st.size === fs.statSync(src).size && (st.mode & 0o7777) === mode && sha256File(at(p)) === sha256File(src)) return false;
      } catch { /* absent */ }
      atomic(p, (tmp) => fs.copyFileSync(src, tmp, fs.constants.COPYFILE_EXCL), mode);
      return true;
    },
    symlink(target, p) {
      try { if (fs.readlinkSync(at(p)) === target) return false; } catch { /* absent or not a link */ }
      fs.mkdirSync(path.dirname(at(p)), { recursive: true, mode: 0o755 });
      const tmp = `${at(p)}.phoenix-new`;
      try { fs.unlinkSync(tmp); } catch { /* none */ }
      fs.symlinkSync(target, tmp);
      fs.renameSync(tmp, at(p));
      return true;
    },
    remove(p) {
      try {
        const st = fs.lstatSync(at(p));
        if (st.isDirectory()) fs.rmSync(at(p), { recursive: true }); else fs.unlinkSync(at(p));
        return true;
      } catch { return false; }
    },
    mkdir(p, mode) {
      noLinkOnPath(p);
      fs.mkdirSync(at(p), { recursive: true, mode });
      fs.chmodSync(at(p), mode);
    },
  };
}

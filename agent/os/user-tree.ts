// The door for files in a tree a local user can write (a home directory and what is below it).
// The home's path comes from passwd (root's); below it nothing is acted on by a path the user can
// change and no link is followed: each directory is opened once (O_DIRECTORY|O_NOFOLLOW) and
// checked with fstat, and its entries are reached as /proc/self/fd/DIRFD/NAME, which the kernel
// resolves inside that very directory (openat semantics; Node has no *at calls). Ownership and
// modes are set through descriptors (fchown, fchmod). Without /proc nothing is done at all.

import type * as cryptoModule from 'crypto';
import fs = require('fs');

export interface TreeOwner { name: string; uid: number; gid: number }

/** A refusal or failure in a user's tree; the message names the path and what was wrong. */
export class UserTreeError extends Error {}

export interface UserDir {
  /** Entry NAME, which must be a real directory owned by the owner; null when there is none. */
  dir(name: string): UserDir | null;
  /** Like dir(), but creates NAME with MODE, owned by the owner, when there is none. */
  ensureDir(name: string, mode: number): UserDir;
  /** Entry NAME's bytes: a regular file owned by the owner, one link, at most MAX bytes; null when there is none. */
  readFile(name: string, max: number): Buffer | null;
  /** Replaces NAME with DATA: a new file (MODE, owned by the owner) written, fsynced and renamed in this directory. */
  replaceFile(name: string, data: Buffer, mode: number): void;
}

const C = fs.constants;
const DIR_FLAGS = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;
// O_NONBLOCK: a FIFO planted as the file opens at once (then fstat refuses it) instead of hanging.
const READ_FLAGS = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY;
const CREATE_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;

const fail = (msg: string): never => { throw new UserTreeError(msg); };
const code = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? '';
const why = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/**
 * Runs WORK in the home directory HOME (host path; SHOWN is how messages name it) of OWNER and
 * closes every descriptor it opened, whatever happens. The home must be a directory owned by the
 * owner or by root; a link in HOME's own path is followed (it is root's path, from passwd).
 */
export function inUserHome<T>(home: string, shown: string, owner: TreeOwner, work: (dir: UserDir) => T): T {
  const fds: number[] = [];
  try {
    let fd: number;
    try {
      fd = fs.openSync(home, C.O_RDONLY | C.O_DIRECTORY);
    } catch (e) {
      return fail(code(e) === 'ENOENT' ? `the home directory ${shown} of '${owner.name}' does not exist` : `cannot open the home directory ${shown} of '${owner.name}': ${why(e)}`);
    }
    fds.push(fd);
    checkOwner(fd, shown, owner, [owner.uid, 0]);
    checkProc(fd);
    return work(userDir(fd, shown, owner, fds));
  } finally {
    for (const fd of fds) try { fs.closeSync(fd); } catch { /* already closed */ }
  }
}

/** /proc/self/fd/FD must be FD itself: /proc is mounted and is the kernel's. Otherwise refuse. */
function checkProc(fd: number): void {
  const want = fs.fstatSync(fd);
  let got: fs.Stats | undefined;
  try { got = fs.statSync(`/proc/self/fd/${fd}`); } catch { /* not mounted */ }
  if (!got || got.dev !== want.dev || got.ino !== want.ino) {
    fail('/proc is not mounted: files in users\' directories are only changed through /proc/self/fd, never by path');
  }
}

function checkOwner(fd: number, shown: string, owner: TreeOwner, uids: number[]): fs.Stats {
  const st = fs.fstatSync(fd);
  if (!uids.includes(st.uid)) fail(`${shown} is owned by uid ${st.uid}, not by '${owner.name}'${uids.includes(0) && owner.uid !== 0 ? ' or root' : ''}; refusing to use it`);
  return st;
}

function userDir(dirFd: number, shown: string, owner: TreeOwner, fds: number[]): UserDir {
  const at = (name: string): string => {
    if (!/^[^/\0]+$/.test(name) || name === '.' || name === '..') fail(`invalid name '${name}' in ${shown}`);
    return `/proc/self/fd/${dirFd}/${name}`;
  };
  const show = (name: string): string => `${shown.replace(/\/$/, '')}/${name}`;
  // Why an open without following failed: the entry is a link, or not what was asked for.
  const refusal = (name: string, e: unknown, wanted: string): never => {
    let st: fs.Stats | undefined;
    try { st = fs.lstatSync(at(name)); } catch { /* gone meanwhile */ }
    if (st?.isSymbolicLink()) return fail(`${show(name)} is a symbolic link; refusing to follow it`);
    if (code(e) === 'ENOTDIR' || code(e) === 'ELOOP') return fail(`${show(name)} is not ${wanted}`);
    return fail(`cannot open ${show(name)}: ${why(e)}`);
  };
  const openDir = (name: string): number | null => {
    try {
      const fd = fs.openSync(at(name), DIR_FLAGS);
      fds.push(fd);
      return fd;
    } catch (e) {
      return code(e) === 'ENOENT' ? null : refusal(name, e, 'a directory');
    }
  };
  return {
    dir(name) {
      const fd = openDir(name);
      if (fd === null) return null;
      checkOwner(fd, show(name), owner, [owner.uid]);
      return userDir(fd, show(name), owner, fds);
    },
    ensureDir(name, mode) {
      let made = false;
      try { fs.mkdirSync(at(name), mode); made = true; } catch (e) { if (code(e) !== 'EEXIST') fail(`cannot create ${show(name)}: ${why(e)}`); }
      const fd = openDir(name) ?? fail(`${show(name)} changed while it was being created`);
      const st = fs.fstatSync(fd);
      // Ours when we made it: root's, empty. Anything else that is root's the user slipped in: refuse.
      const ours = made && st.uid === 0 && st.nlink === 2 && fs.readdirSync(`/proc/self/fd/${fd}`).length === 0;
      if (!ours) checkOwner(fd, show(name), owner, [owner.uid]);
      if (made) {
        fs.fchownSync(fd, owner.uid, owner.gid);
        fs.fchmodSync(fd, mode);
        fs.fsyncSync(dirFd);
      }
      return userDir(fd, show(name), owner, fds);
    },
    readFile(name, max) {
      let fd: number;
      try { fd = fs.openSync(at(name), READ_FLAGS); } catch (e) { return code(e) === 'ENOENT' ? null : refusal(name, e, 'a regular file'); }
      fds.push(fd);
      const st = checkOwner(fd, show(name), owner, [owner.uid]);
      if (!st.isFile()) fail(`${show(name)} is not a regular file`);
      if (st.nlink !== 1) fail(`${show(name)} has ${st.nlink} hard links; refusing to read it`);
      const tooBig = (): never => fail(`${show(name)} is larger than ${max} bytes; refusing to read it`);
      if (st.size > max) tooBig();
      // Read through the descriptor, never trusting st_size: the file may grow meanwhile.
      const parts: Buffer[] = [];
      let len = 0;
      for (let room = st.size + 1; ; room = Math.min(64 * 1024, max + 1 - len)) {
        const buf = Buffer.allocUnsafe(room);
        const n = fs.readSync(fd, buf, 0, room, null);
        if (n === 0) break;
        parts.push(buf.subarray(0, n));
        if ((len += n) > max) tooBig();
      }
      return Buffer.concat(parts, len);
    },
    replaceFile(name, data, mode) {
      const target = at(name);
      // Loaded here, not at start: crypto costs the worker's start-up ~10 ms.
      const tmpName = `.${name}.phoenix-${(require('crypto') as typeof cryptoModule).randomBytes(6).toString('hex')}`;
      const tmp = at(tmpName);
      let fd: number;
      try { fd = fs.openSync(tmp, CREATE_FLAGS, 0o600); } catch (e) { return fail(`cannot create a file in ${shown}: ${why(e)}`); }
      try {
        try {
          fs.writeFileSync(fd, data);
          fs.fchmodSync(fd, mode);
          fs.fchownSync(fd, owner.uid, owner.gid);
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        // Both names in the directory we hold: rename replaces the entry itself, never a link's target.
        fs.renameSync(tmp, target);
      } catch (e) {
        try { fs.unlinkSync(tmp); } catch { /* gone */ }
        if (e instanceof UserTreeError) throw e;
        fail(`cannot write ${show(name)}: ${why(e)}`);
      }
      fs.fsyncSync(dirFd);
    },
  };
}

/** One step of a path below a home directory, as fstat saw it through a descriptor. */
export interface InspectedEntry {
  /** The path as shown (HOME/.ssh/authorized_keys). */
  path: string;
  kind: 'file' | 'dir' | 'link' | 'other' | 'missing';
  uid?: number;
  gid?: number;
  /** Permission bits (st_mode & 07777). */
  mode?: number;
  nlink?: number;
  size?: number;
}

/**
 * Read-only look at HOME and then each of PARTS below it (".ssh", "authorized_keys"), for the
 * login doctor: each step opened without following links (O_NOFOLLOW, non-blocking) and fstat'ed;
 * the walk stops at a link, a missing entry or a non-directory. Nothing is changed; the last
 * entry's bytes are read (through its descriptor) only when it is a regular file of OWNER's or
 * root's with one link and at most MAX bytes. Throws UserTreeError when /proc is not mounted.
 */
export function inspectUserPath(home: string, shown: string, owner: TreeOwner, parts: string[], max: number): { entries: InspectedEntry[]; data: Buffer | null } {
  const fds: number[] = [];
  const entries: InspectedEntry[] = [];
  const entry = (p: string, st: fs.Stats): InspectedEntry => ({
    path: p, kind: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other', uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, nlink: st.nlink, size: st.size,
  });
  try {
    let fd: number;
    try { fd = fs.openSync(home, C.O_RDONLY | C.O_DIRECTORY); } catch (e) {
      entries.push({ path: shown, kind: code(e) === 'ENOENT' ? 'missing' : code(e) === 'ENOTDIR' ? 'other' : 'missing' });
      return { entries, data: null };
    }
    fds.push(fd);
    checkProc(fd);
    entries.push(entry(shown, fs.fstatSync(fd)));
    let p = shown.replace(/\/$/, '');
    for (const [i, name] of parts.entries()) {
      if (!/^[^/\0]+$/.test(name) || name === '.' || name === '..') fail(`invalid name '${name}' in ${p}`);
      p = `${p}/${name}`;
      const at = `/proc/self/fd/${fd}/${name}`;
      let next: number;
      try { next = fs.openSync(at, READ_FLAGS); } catch (e) {
        let st: fs.Stats | undefined;
        try { st = fs.lstatSync(at); } catch { /* missing */ }
        entries.push(st?.isSymbolicLink() ? { path: p, kind: 'link', uid: st.uid } : st ? entry(p, st) : { path: p, kind: 'missing' });
        return { entries, data: null };
      }
      fds.push(next);
      const st = fs.fstatSync(next);
      entries.push(entry(p, st));
      if (i === parts.length - 1) {
        const ok = st.isFile() && st.nlink === 1 && st.size <= max && (st.uid === owner.uid || st.uid === 0);
        return { entries, data: ok ? fs.readFileSync(next).subarray(0, max) : null };
      }
      if (!st.isDirectory()) return { entries, data: null };
      fd = next;
    }
    return { entries, data: null };
  } finally {
    for (const fd of fds) try { fs.closeSync(fd); } catch { /* already closed */ }
  }
}

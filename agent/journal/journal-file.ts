// The journal's file: one JSON line per record, each written whole or not at all. A short write
// (a full disk) is cut back off before the error reaches the caller, and a tail cut by a crash is
// removed on open, so a record is never glued to the next. Beside it, a reserve file keeps room
// for the records of the command in flight: when the disk fills up under that command, the reserve
// is given back so its last records still fit, and no new command starts until the room is there
// again. A directory that is read-only, full or broken never throws at open: the file says why
// it cannot take records (ready()), and is tried again at the next command.

import fs = require('fs');
import path = require('path');
import { readPrivateBytes } from '../../supervisor/atomic-file';
import type { JournalState } from '../../supervisor/ipc';

export interface JournalProblem { state: JournalState; reason: string }

export interface JournalFile {
  /** The whole lines read at open. */
  readonly lines: string[];
  /** Appends one record (a line without its newline), durably, or throws with nothing written. */
  append(line: string): void;
  /** Replaces the file with these lines (compaction); false when that could not be done. */
  replace(lines: string[]): boolean;
  /** Null when records can be written, with room in reserve for one command; else why not. */
  ready(): JournalProblem | null;
}

export const FILE = 'journal.jsonl';
const RESERVE = 'reserve';
/** Room for the received, started and done records of one command, with a wide margin. */
export const RESERVE_BYTES = 64 << 10;

export function problemOf(e: unknown): JournalProblem {
  const code = (e as NodeJS.ErrnoException).code;
  const state: JournalState = code === 'EROFS' ? 'read-only' : code === 'ENOSPC' || code === 'EDQUOT' ? 'no-space' : 'error';
  return { state, reason: (e as Error).message };
}

/** Writes all of BUF (at AT, or at the file's offset), or throws: a short write is a full disk. */
function writeFully(fd: number, buf: Buffer, at: number | null = null): void {
  for (let off = 0; off < buf.length;) {
    const n = fs.writeSync(fd, buf, off, buf.length - off, at === null ? null : at + off);
    if (n <= 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    off += n;
  }
}

/** Bytes that no file system compresses away (a reserve of zeros would reserve nothing on btrfs). */
function filler(n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i += 4) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; b.writeInt32LE(x | 0, i); }
  return b;
}

export function openJournalFile(dir: string, onProblem: (p: JournalProblem | null) => void): JournalFile {
  const file = path.join(dir, FILE);
  const reserve = path.join(dir, RESERVE);
  let raw: Buffer = Buffer.alloc(0);
  let readError: unknown = null;
  // Never through a symlink, never a FIFO in its place (it would hang the worker).
  try { raw = readPrivateBytes(file, Infinity); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') readError = e; }
  // Whole lines only: a tail without its newline is a record cut by a crash or a full disk. Counted
  // in bytes of the file, not of its decoded text: a damaged byte decodes to three.
  const whole = raw.subarray(0, raw.lastIndexOf(0x0a) + 1);
  const lines = whole.toString('utf8').split('\n').filter(Boolean);
  let fd = -1;
  /** Bytes of whole records in the file: where the next one goes. */
  let size = whole.length;
  let reserved = false;
  let current: JournalProblem | null = null;
  let reported = false;

  /** Tells the world at the first call and at every change. */
  const report = (p: JournalProblem | null): JournalProblem | null => {
    if (!reported || p?.state !== current?.state || p?.reason !== current?.reason) onProblem(p);
    reported = true;
    current = p;
    return p;
  };
  /** Writes BUF at the end of the good records, or cuts back whatever part of it got written. */
  const writeWhole = (buf: Buffer): void => {
    try {
      writeFully(fd, buf, size);
      fs.fsyncSync(fd);
      size += buf.length;
    } catch (e) {
      // Records are written at `size`, so a part left behind is overwritten by the next one anyway.
      try { fs.ftruncateSync(fd, size); } catch { /* the next open cuts it */ }
      throw e;
    }
  };
  const open = (): void => {
    if (readError) throw readError;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const f = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
    try {
      const st = fs.fstatSync(f);
      if (!st.isFile()) throw new Error(`${file} is not a regular file`);
      // The repair: the cut tail goes (records are written at the end of the whole ones).
      if (st.size !== size) { fs.ftruncateSync(f, size); fs.fsyncSync(f); }
    } catch (e) {
      fs.closeSync(f);
      throw e;
    }
    fd = f;
  };
  const makeReserve = (): void => {
    try {
      const st = fs.lstatSync(reserve);
      if (st.isFile() && st.size === RESERVE_BYTES) { reserved = true; return; }
      // Anything else in its place (a FIFO would block the open for good) goes; the reserve is made anew.
      if (!st.isFile() && !st.isDirectory()) fs.unlinkSync(reserve);
    } catch { /* none yet */ }
    const f = fs.openSync(reserve, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK, 0o600);
    try {
      if (!fs.fstatSync(f).isFile()) throw new Error(`${reserve} is not a regular file`);
      writeFully(f, filler(RESERVE_BYTES));
      fs.fsyncSync(f);
    } catch (e) {
      try { fs.unlinkSync(reserve); } catch { /* gone */ }
      throw e;
    } finally {
      fs.closeSync(f);
    }
    reserved = true;
  };
  const ready = (): JournalProblem | null => {
    try {
      if (fd < 0) open();
      if (!reserved) makeReserve();
      return report(null);
    } catch (e) {
      return report(problemOf(e));
    }
  };
  ready();

  return {
    lines,
    ready,
    append(line) {
      if (fd < 0) throw Object.assign(new Error(current?.reason ?? `${file} is not open`), { code: current?.state === 'read-only' ? 'EROFS' : 'EIO' });
      const buf = Buffer.from(`${line}\n`);
      try {
        writeWhole(buf);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC' || !reserved) throw e;
        // The disk filled up under a command in flight: its records take the reserve's room.
        reserved = false;
        try { fs.unlinkSync(reserve); } catch { /* gone already: no room to win */ }
        report(problemOf(e));
        writeWhole(buf);
      }
    },
    replace(next) {
      if (fd < 0) return false;
      const tmp = `${file}.new`;
      const data = Buffer.from(next.map((l) => `${l}\n`).join(''));
      try {
        const f = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
        try {
          writeFully(f, data);
          fs.fsyncSync(f);
        } finally {
          fs.closeSync(f);
        }
        fs.renameSync(tmp, file);
      } catch {
        // No room for the copy (or no such luck): the long file stays, and serves as well.
        try { fs.unlinkSync(tmp); } catch { /* gone */ }
        return false;
      }
      fs.closeSync(fd);
      fd = -1;
      // Opened again at the next ready() if this fails.
      try { fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW); } catch { /* reported then */ }
      size = data.length;
      return true;
    },
  };
}

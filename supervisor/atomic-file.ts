// State is written as NAME.new, fsynced, then renamed over NAME, so a reader (or a process
// restarted after kill -9) sees the old file or the new one, never half of one. A write that fails
// (a full or read-only run directory) throws and leaves no .new behind; callers decide, and the
// supervisor never dies of it.

import fs = require('fs');

export function writeFileAtomic(file: string, data: string, opts: { mode?: number; fsync?: boolean } = {}): void {
  const tmp = `${file}.new`;
  // O_EXCL would refuse a stale .new left by a crash; remove it first (it is ours: the dir is 0700).
  try { fs.unlinkSync(tmp); } catch { /* absent */ }
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, opts.mode ?? 0o600);
  try {
    try {
      // A short write is a full disk that has not said so yet.
      if (fs.writeSync(fd, data) !== Buffer.byteLength(data)) throw new Error('ENOSPC: short write');
      if (opts.fsync !== false) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    try { fs.unlinkSync(tmp); } catch { /* gone */ }
    throw e;
  }
}

/**
 * The text of one of our own small files: never through a symlink, never a FIFO or a device
 * (opened O_NONBLOCK, then fstat), at most MAX bytes; throws otherwise (ENOENT when it is absent).
 * A FIFO in its place would block the process for good, and /dev/zero be read until memory ran out.
 */
export function readPrivateBytes(file: string, max = 1 << 20, follow = false): Buffer {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (follow ? 0 : fs.constants.O_NOFOLLOW));
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > max) throw new Error(`${file} is ${st.isFile() ? `${st.size} bytes` : 'not a regular file'}`);
    return fs.readFileSync(fd);
  } finally { fs.closeSync(fd); }
}

export const readPrivateFile = (file: string, max?: number, follow?: boolean): string => readPrivateBytes(file, max, follow).toString('utf8');

export function readJsonFile<T>(file: string): T | null {
  try {
    return JSON.parse(readPrivateFile(file)) as T;
  } catch {
    return null;
  }
}

/** Creates DIR (and parents) with MODE if missing; refuses a DIR that others can write to. */
export function ensurePrivateDir(dir: string, mode = 0o700): void {
  fs.mkdirSync(dir, { recursive: true, mode });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
  if (st.uid !== (process.getuid?.() ?? st.uid)) throw new Error(`${dir} belongs to uid ${st.uid}, not to this user`);
  if (st.mode & 0o022) fs.chmodSync(dir, mode);
}

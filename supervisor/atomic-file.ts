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

export function readJsonFile<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
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

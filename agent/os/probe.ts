// Cheap questions about the system that run no tool: can this path be written (access(2), which
// answers EROFS for a read-only mount), and how much room its file system has left (statfs(2);
// null on Node 16, which has no statfs and would need a process per call).

import fs = require('fs');

/** Null when P can be written by us; else the errno code (EROFS, EACCES, ENOENT). */
export function writeProblem(p: string): string | null {
  try { fs.accessSync(p, fs.constants.W_OK); return null; } catch (e) { return (e as NodeJS.ErrnoException).code ?? 'EIO'; }
}

type StatFs = (p: string, cb: (e: Error | null, s: { bsize: number; bfree: number; files: number; ffree: number }) => void) => void;

/** Free bytes and inodes for root (f_bfree, f_ffree) of the file system holding P; null when unknown. */
export function freeSpace(p: string): Promise<{ bytes: number; inodes: number | null } | null> {
  const statfs = (fs as unknown as { statfs?: StatFs }).statfs;
  if (!statfs) return Promise.resolve(null);
  return new Promise((resolve) => statfs(p, (e, s) => resolve(e ? null : { bytes: s.bfree * s.bsize, inodes: s.files > 0 ? s.ffree : null })));
}

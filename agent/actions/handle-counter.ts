// The guest-file handle counter, kept in STATE_DIR/file-handles as qemu-ga keeps its fd_counter
// (first handle 1000): every handle is a new number, so a handle of a worker that died can be
// told apart from one never issued. Written as name.new, fsync, rename; readable with cat.

import fs = require('fs');
import path = require('path');

export const FIRST_HANDLE = 1000;

export interface HandleCounter {
  /** The next handle, persisted before it is handed out. */
  next(): number;
  /** Issued by an earlier worker (before this one started). */
  earlier(id: number): boolean;
}

export function parseCounter(text: string): number | null {
  const m = /^next=(\d{1,15})$/m.exec(text);
  return m && Number(m[1]) >= FIRST_HANDLE ? Number(m[1]) : null;
}

export function createHandleCounter(stateDir: string): HandleCounter {
  const file = path.join(stateDir, 'file-handles');
  let start = FIRST_HANDLE;
  try { start = parseCounter(fs.readFileSync(file, 'utf8')) ?? FIRST_HANDLE; } catch { /* first run */ }
  let next = start;
  return {
    next() {
      fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      const tmp = `${file}.new`;
      const fd = fs.openSync(tmp, 'w', 0o600);
      try {
        fs.writeSync(fd, `# guest-file handles: the next one to hand out\nnext=${next + 1}\n`);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, file);
      return next++;
    },
    earlier: (id) => id >= FIRST_HANDLE && id < start,
  };
}

// A real small file system for fault tests: a tmpfs of a few pages that a test fills up or turns
// read-only (remount), mounted on a directory of its own and unmounted after.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tempDir } from './agent';

export interface TinyFs {
  dir: string;
  /** Fills every free page with a file of its own; what is left is the slack in others' last pages. */
  fill(): void;
  /** Frees the space fill() took. */
  unfill(): void;
  readOnly(ro: boolean): void;
  cleanup(): void;
}

/** Mounts a tmpfs of SIZEKB at AT (created; default a new temporary directory). */
export function tinyFs(sizeKb: number, at?: string): TinyFs {
  if (process.getuid!() !== 0) throw new Error('needs root to mount a tmpfs (CI is root)');
  const dir = at ?? path.join(tempDir('tinyfs-'), 'fs');
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k,mode=0700`, 'tmpfs', dir]);
  const filler = path.join(dir, 'filler');
  return {
    dir,
    fill() {
      const fd = fs.openSync(filler, 'a');
      try {
        for (let chunk = 64 << 10; chunk >= 1; chunk >>= 1) {
          const b = Buffer.alloc(chunk, 0x78);
          for (;;) {
            try { if (fs.writeSync(fd, b) < chunk) break; } catch { break; }
          }
        }
      } finally { fs.closeSync(fd); }
    },
    unfill() { fs.rmSync(filler, { force: true }); },
    readOnly(ro) { execFileSync('mount', ['-o', `remount,${ro ? 'ro' : 'rw'}`, dir]); },
    cleanup() { try { execFileSync('umount', ['-l', dir], { stdio: 'ignore' }); } catch { /* gone */ } },
  };
}

/** Bytes still writable at the end of FILE on a full tmpfs: the rest of its last page. */
export function slack(file: string): number {
  const size = fs.statSync(file).size;
  return size % 4096 === 0 ? 0 : 4096 - (size % 4096);
}

// A real ext4 file system on a loop device, to freeze and thaw for real.
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tempDir } from './agent';

export function loopFs(): { mnt: string; cleanup(): void } {
  if (process.getuid!() !== 0) throw new Error('needs root for a loop mount (CI is root)');
  const dir = tempDir('loopfs-');
  const img = path.join(dir, 'fs.img');
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(mnt);
  execFileSync('truncate', ['-s', '64M', img]);
  execFileSync('mkfs.ext4', ['-q', '-F', img]);
  execFileSync('mount', ['-o', 'loop', img, mnt]);
  return {
    mnt,
    cleanup: () => {
      try { execFileSync('fsfreeze', ['-u', mnt], { stdio: 'ignore' }); } catch { /* thawed */ }
      // A writer that was blocked by a freeze may still be finishing: detach lazily then.
      try { execFileSync('umount', [mnt], { stdio: 'ignore' }); } catch { execFileSync('umount', ['-l', mnt]); }
    },
  };
}

/** Whether a write with fsync into DIR completes within MS (it blocks on a frozen file system). */
export function writes(dir: string, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn('dd', ['if=/dev/zero', `of=${dir}/probe-${Date.now()}`, 'bs=4k', 'count=1', 'conv=fsync'], { stdio: 'ignore' });
    const t = setTimeout(() => { resolve(false); }, ms);
    p.on('exit', (code) => { clearTimeout(t); resolve(code === 0); });
  });
}

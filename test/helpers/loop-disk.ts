// A real partitioned disk for growing: a sparse image file on a loop device with its partitions
// (losetup -P; where the kernel has no partition-table parser, partx -a adds them through BLKPG,
// as it would for any disk), a file system made on one partition and mounted, and grow() to
// enlarge the image file as a host enlarges a virtual disk. Cleanup unmounts and detaches even
// after a failed test (also at process exit); another test's mount namespace that copied the
// mount keeps the loop device busy, so it is detached lazily (autoclear).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tempDir } from './agent';
import { atExit } from './at-exit';

export interface LoopDisk {
  img: string;
  loop: string;
  /** Device node of each partition, by number. */
  part(n: number): string;
  mnt: string;
  /** Enlarges the image file (the host's block_resize). */
  grow(mib: number): void;
  cleanup(): void;
}

export interface DiskSpec {
  /** none: no partition table, the file system on the whole disk. */
  label: 'gpt' | 'dos' | 'none';
  /** Image size in MiB. */
  mib: number;
  /** sfdisk lines, one per partition (",320M" or ",64M,83"). */
  parts: string[];
  /** File system made on partition `mount` and mounted; none: nothing mounted. */
  fs?: 'ext4' | 'xfs' | 'btrfs';
  mount?: number;
}

const run = (cmd: string, args: string[], input?: string): string => execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });

export function loopDisk(spec: DiskSpec): LoopDisk {
  if (process.getuid!() !== 0) throw new Error('needs root for loop devices (CI is root)');
  const dir = tempDir('growdisk-');
  const img = path.join(dir, 'disk.img');
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(mnt);
  run('truncate', ['-s', `${spec.mib}M`, img]);
  if (spec.label !== 'none') run('sfdisk', ['-q', img], `label: ${spec.label}\n${spec.parts.join('\n')}\n`);
  const loop = run('losetup', ['-f', '--show', '-P', img]).trim();
  let mounted = false;
  const cleanup = (): void => {
    if (mounted) {
      try { run('umount', [mnt]); } catch { try { run('umount', ['-l', mnt]); } catch { /* gone */ } }
      mounted = false;
    }
    try { run('losetup', ['-d', loop]); } catch { /* detached */ }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const remove = atExit(cleanup);
  const part = (n: number): string => `${loop}p${n}`;
  try {
    try { run('partx', ['-a', loop]); } catch { /* the kernel added them already */ }
    if (spec.fs) {
      const dev = spec.label === 'none' ? loop : part(spec.mount ?? 1);
      run(`mkfs.${spec.fs}`, spec.fs === 'ext4' ? ['-q', '-F', dev] : ['-q', '-f', dev]);
      run('mount', [dev, mnt]);
      mounted = true;
    }
  } catch (e) {
    cleanup();
    remove();
    throw e;
  }
  return {
    img, loop, part, mnt,
    grow: (mib) => { run('truncate', ['-s', `${mib}M`, img]); },
    cleanup: () => { cleanup(); remove(); },
  };
}

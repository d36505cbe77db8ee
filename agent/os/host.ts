// The one door to the operating system for reads. Every path is taken under a root directory
// ("/" in production), so tests point it at a temporary tree or at captured /proc files; the
// few facts that only the live kernel has (interface addresses, file system usage) are here too.
// Only this module (and its sibling for actions) touches the system.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface FsUsage {
  /** Fundamental block size (f_frsize). */
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}

export interface Host {
  readonly root: string;
  /** A file's text, or null when it cannot be read. */
  read(p: string): string | null;
  readBytes(p: string): Buffer | null;
  list(p: string): string[];
  link(p: string): string | null;
  exists(p: string): boolean;
  /** Usage of the file system mounted at P (statfs), or null. */
  usage(p: string): Promise<FsUsage | null>;
  /** Addresses of the interfaces that are up, from getifaddrs (live system only). */
  addresses(): NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  /** Wall-clock time in ns since the epoch. */
  timeNs(): bigint;
  /** Processes spawned on behalf of statistics since start (must stay 0 where statfs exists). */
  spawned(): number;
}

interface StatFsResult { bsize: number; blocks: number; bfree: number; bavail: number; files: number; ffree: number }
type StatFs = (p: string, cb: (e: Error | null, s: StatFsResult) => void) => void;

export function createHost(root = '/'): Host {
  const at = (p: string): string => (root === '/' ? p : path.join(root, p));
  let spawned = 0;
  const statfs = (fs as unknown as { statfs?: StatFs }).statfs;
  return {
    root,
    read(p) {
      try { return fs.readFileSync(at(p), 'utf8'); } catch { return null; }
    },
    readBytes(p) {
      try { return fs.readFileSync(at(p)); } catch { return null; }
    },
    list(p) {
      try { return fs.readdirSync(at(p)); } catch { return []; }
    },
    link(p) {
      try { return fs.readlinkSync(at(p)); } catch { return null; }
    },
    exists: (p) => fs.existsSync(at(p)),
    usage(p) {
      if (statfs) {
        return new Promise((resolve) => statfs(at(p), (e, s) => resolve(e ? null : {
          bsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree,
        })));
      }
      // Node 16 has no fs.statfs: one `stat -f` for this path (reported by spawned()).
      spawned++;
      return statfsBySpawn(at(p));
    },
    addresses: () => os.networkInterfaces(),
    timeNs: () => BigInt(Date.now()) * 1_000_000n,
    spawned: () => spawned,
  };
}

function statfsBySpawn(p: string): Promise<FsUsage | null> {
  const { execFile } = require('child_process') as typeof import('child_process');
  return new Promise((resolve) => {
    execFile('/usr/bin/stat', ['-f', '-c', '%S %b %f %a %c %d', '--', p], { timeout: 5000, env: { LC_ALL: 'C', PATH: '/usr/bin:/bin' } }, (e, out) => {
      const v = String(out).trim().split(' ').map(Number);
      if (e || v.length !== 6 || v.some((x) => !Number.isFinite(x))) return resolve(null);
      resolve({ bsize: v[0], blocks: v[1], bfree: v[2], bavail: v[3], files: v[4], ffree: v[5] });
    });
  });
}

// The one door to the operating system for reads. Every path is taken under a root directory
// ("/" in production), so tests point it at a temporary tree or at captured /proc files; the
// few facts that only the live kernel has (interface addresses, file system usage) are here too.
// Only this module (and its sibling for actions) touches the system.

import fs = require('fs');
import os = require('os');
import path = require('path');

export interface FsUsage {
  /** Fundamental block size (f_frsize). */
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}

export interface HeldAttribute {
  read(): string | null;
  close(): void;
}

export interface Host {
  readonly root: string;
  /** A file's text, or null when it cannot be read. */
  read(p: string): string | null;
  /**
   * P held open and read again from offset 0 at each call (null while it cannot be read; the next
   * call opens it again): for files the kernel writes anew at each read, read at every sample.
   */
  held(p: string): () => string | null;
  /**
   * A /proc file read at every statistics sample or command (/proc/net/dev, the route tables):
   * on the live system through one descriptor per path, held from the first call, as held() (a
   * pread instead of open, fstat, two reads and close: 5 us against 18); elsewhere as read().
   */
  readProc(p: string): string | null;
  /**
   * A sysfs attribute's text (one value of at most a page, which sysfs hands over in one read),
   * or null: open, one read, close, where read() needs a second read to see the end.
   */
  readAttribute(p: string): string | null;
  /**
   * A sysfs attribute held open and read again in place (one pread, not open, read and close)
   * until closed: for a device's attribute read at every call. Null while it cannot be read (the
   * device is gone). Under another root, read by path.
   */
  heldAttribute(p: string): HeldAttribute;
  /** The file's bytes (the first MAX of them, when given: a firmware file read through a slow port), or null. */
  readBytes(p: string, max?: number): Buffer | null;
  list(p: string): string[];
  link(p: string): string | null;
  exists(p: string): boolean;
  /** Directory entries with readdir's type (a sysfs device is a link, a memory block a directory). */
  entries(p: string): DirEntry[];
  /** The path with every link resolved, as a path under the root; null when it does not resolve. */
  realpath(p: string): string | null;
  /** Like read, but says why not: the errno code (ENOENT, EACCES, ...). */
  readOrCode(p: string): { text: string } | { code: string };
  /** What execve would find at P: a directory, an executable file, or the errno code of stat. */
  stat(p: string): { dir: boolean; executable: boolean } | { code: string };
  /** Which file P is now (device, inode, size, change time): another file, the same one re-created or rewritten, differs. */
  identity(p: string): string | null;
  /** Major and minor number of the block device at P (stat's st_rdev), or null. */
  blockDevice(p: string): { major: number; minor: number } | null;
  /** Usage of the file system mounted at P (statfs), or null. */
  usage(p: string): Promise<FsUsage | null>;
  /** The kernel's host name: uname's (one syscall, not four for /proc/sys/kernel/hostname) on the live system. */
  hostName(): string;
  /** Addresses of the interfaces that are up, from getifaddrs (live system only). */
  addresses(): NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  /** Wall-clock time in ns since the epoch. */
  timeNs(): bigint;
  /** Processes spawned on behalf of statistics since start (must stay 0 where statfs exists). */
  spawned(): number;
}

export interface DirEntry { name: string; dir: boolean; link: boolean }

interface StatFsResult { bsize: number; blocks: number; bfree: number; bavail: number; files: number; ffree: number }

/**
 * Runs F with no stack trace captured for the errors it throws: here a missing or unreadable file
 * is an answer (no tun_flags, no udev database), and capturing a stack for each cost more than the
 * read itself.
 */
function traceless<T>(f: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try { return f(); } finally { Error.stackTraceLimit = limit; }
}

const PAGE = 4096;

export function createHost(root = '/'): Host {
  const at = (p: string): string => (root === '/' ? p : path.join(root, p));
  let spawned = 0;
  const statfsSync = (fs as unknown as { statfsSync?: (p: string) => StatFsResult }).statfsSync;
  const readText = (p: string): string | null => { try { return fs.readFileSync(at(p), 'utf8'); } catch { return null; } };
  const readLink = (p: string): string | null => { try { return fs.readlinkSync(at(p)); } catch { return null; } };
  // readAttribute's buffer: used synchronously only, never held.
  const page = Buffer.alloc(PAGE);
  // One buffer for every held file: each read is done and turned into text before the next.
  const scratch = { buf: Buffer.alloc(0) };
  const procFiles = new Map<string, () => string | null>();
  // An attribute's text from one read at POS, or null when it fills the page (not an attribute).
  const pageAt = (fd: number, pos: number | null): string | null => {
    const n = fs.readSync(fd, page, 0, PAGE, pos);
    return n < PAGE ? page.toString('utf8', 0, n) : null;
  };
  const readAttribute = (p: string): string | null => traceless(() => {
    let fd: number;
    try { fd = fs.openSync(at(p), fs.constants.O_RDONLY); } catch { return null; }
    // A full page may not be all of it: read the file whole.
    try { return pageAt(fd, null) ?? readText(p); } catch { return null; } finally { fs.closeSync(fd); }
  });
  return {
    root,
    read: (p) => traceless(() => readText(p)),
    held: (p) => heldReader(at(p), scratch),
    readProc(p) {
      if (root !== '/') return traceless(() => readText(p));
      let f = procFiles.get(p);
      if (!f) procFiles.set(p, f = heldReader(p, scratch));
      return traceless(f);
    },
    readAttribute,
    heldAttribute(p) {
      if (root !== '/') return { read: () => readAttribute(p), close: () => {} };
      let fd = -1;
      return {
        read: () => traceless(() => {
          try {
            if (fd < 0) fd = fs.openSync(p, fs.constants.O_RDONLY);
            return pageAt(fd, 0);
          } catch { return null; }
        }),
        close: () => {
          if (fd >= 0) try { fs.closeSync(fd); } catch { /* closed already */ }
          fd = -1;
        },
      };
    },
    readBytes: (p, max) => traceless(() => {
      if (max === undefined) { try { return fs.readFileSync(at(p)); } catch { return null; } }
      let fd: number;
      try { fd = fs.openSync(at(p), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK); } catch { return null; }
      try {
        const buf = Buffer.alloc(max);
        let n = 0;
        for (let got = 1; got > 0 && n < max; n += got) got = fs.readSync(fd, buf, n, max - n, n);
        return buf.subarray(0, n);
      } catch { return null; } finally { fs.closeSync(fd); }
    }),
    list: (p) => traceless(() => { try { return fs.readdirSync(at(p)); } catch { return []; } }),
    link: (p) => traceless(() => readLink(p)),
    exists: (p) => fs.existsSync(at(p)),
    entries: (p) => traceless(() => {
      try {
        return fs.readdirSync(at(p), { withFileTypes: true }).map((d) => ({ name: d.name, dir: d.isDirectory(), link: d.isSymbolicLink() }));
      } catch { return []; }
    }),
    realpath: (p) => traceless(() => {
      try {
        const real = fs.realpathSync(at(p));
        if (root === '/') return real;
        const base = fs.realpathSync(root);
        return real === base ? '/' : real.startsWith(base + '/') ? real.slice(base.length) : null;
      } catch { return null; }
    }),
    readOrCode: (p) => traceless(() => {
      try { return { text: fs.readFileSync(at(p), 'utf8') }; } catch (e) { return { code: (e as NodeJS.ErrnoException).code ?? 'EIO' }; }
    }),
    stat: (p) => traceless(() => {
      try {
        const st = fs.statSync(at(p));
        let executable = true;
        try { fs.accessSync(at(p), fs.constants.X_OK); } catch { executable = false; }
        return { dir: st.isDirectory(), executable };
      } catch (e) { return { code: (e as NodeJS.ErrnoException).code ?? 'EIO' }; }
    }),
    identity: (p) => traceless(() => {
      try {
        const st = fs.statSync(at(p), { throwIfNoEntry: false });
        return st ? `${st.dev}:${st.ino}:${st.size}:${st.ctimeMs}` : null;
      } catch { return null; }
    }),
    blockDevice: (p) => traceless(() => {
      try {
        const st = fs.statSync(at(p), { throwIfNoEntry: false });
        if (!st?.isBlockDevice()) return null;
        // glibc's dev_t layout: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31.
        const d = BigInt(st.rdev);
        return { major: Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n)), minor: Number((d & 0xffn) | ((d >> 12n) & 0xffffff00n)) };
      } catch { return null; }
    }),
    usage(p) {
      // Synchronous where Node has it (18.15+): statfs of a block device's file system answers from
      // memory, and the asynchronous call would start libuv's four pool threads for it.
      if (statfsSync) {
        const s = traceless(() => { try { return statfsSync(at(p)); } catch { return null; } });
        return Promise.resolve(s && { bsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree });
      }
      // Node 16 has no fs.statfs: one `stat -f` for this path (reported by spawned()).
      spawned++;
      return statfsBySpawn(at(p));
    },
    hostName: () => (root === '/' ? null : readText('/proc/sys/kernel/hostname')) ?? os.hostname(),
    addresses: () => os.networkInterfaces(),
    timeNs: () => BigInt(Date.now()) * 1_000_000n,
    spawned: () => spawned,
  };
}

/**
 * One pread per call instead of open, read, read and close. A /proc sequence file returns at most
 * a page per read, so reads go on to the end; a file that fills the buffer gets one twice as big.
 */
function heldReader(file: string, scratch: { buf: Buffer }): () => string | null {
  let fd = -1;
  return () => {
    try {
      if (fd < 0) fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      let n = 0;
      for (let got = 1; got > 0; n += got) {
        if (n === scratch.buf.length) { const b = Buffer.allocUnsafe(Math.max(8192, n * 2)); scratch.buf.copy(b); scratch.buf = b; }
        got = fs.readSync(fd, scratch.buf, n, scratch.buf.length - n, n);
      }
      return scratch.buf.toString('utf8', 0, n);
    } catch {
      if (fd >= 0) try { fs.closeSync(fd); } catch { /* already gone */ }
      fd = -1;
      return null;
    }
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

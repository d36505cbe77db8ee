// The one door to the operating system for changes: running a tool (absolute path, argv without
// secrets, secrets on stdin only, minimal environment, a timeout) and writing files under the
// root directory atomically. Tests point the root at a temporary tree and run the agent inside a
// network or UTS namespace; nothing here is mocked.

import type * as cp from 'child_process';
import fs = require('fs');
import os = require('os');
import path = require('path');

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  /** Written to stdin, then stdin is closed (the only way a secret reaches a tool). */
  input?: Buffer;
  timeoutMs?: number;
  /** Output kept per stream; the rest is dropped. */
  maxOutput?: number;
}

export interface System {
  readonly root: string;
  /** PATH under the root; tools are run by absolute path from these directories only. */
  which(tool: string): string | null;
  run(tool: string, args: string[], opts?: RunOptions): Promise<RunResult>;
  /** Maps a system path (/etc/hostname) to the file under the root. */
  at(p: string): string;
  readText(p: string): string | null;
  /** Writes P atomically (P.phoenix-new, fsync, rename, fsync dir), keeping an existing file's mode and owner. */
  writeText(p: string, text: string, opts?: { mode?: number; uid?: number; gid?: number }): void;
  remove(p: string): boolean;
  /** mkdir -p of P under the root with MODE; an existing directory is left as it is. */
  makeDir(p: string, mode: number): void;
  /** Descriptor-level file access under the root (guest-file-*, sysfs attributes). */
  file: FileDoor;
  /** N pipes whose ends are plain descriptors (a child sees pipes, not the sockets libuv makes). */
  pipes(n: number): Promise<Array<{ read: number; write: number }>>;
  /** kill(2): false when PID is gone or not ours to signal. */
  signal(pid: number, sig: NodeJS.Signals): boolean;
  /** Starts a program with these descriptors as its stdin, stdout, stderr ('ignore': /dev/null). */
  start(file: string, argv: string[], o: { env: NodeJS.ProcessEnv; stdio: Array<number | 'ignore'>; umask: number; cwd: string }): cp.ChildProcess;
}

export interface FileDoor {
  /** open(2) of P under the root; throws the Node error (with its errno code). */
  open(p: string, flags: number, mode?: number): number;
  /** Where an open descriptor really is, as a path under the root (from /proc/self/fd). */
  where(fd: number): string | null;
  /** read(2) at POS, or at the descriptor's offset when POS is null. */
  read(fd: number, buf: Buffer, pos: number | null): Promise<number>;
  write(fd: number, buf: Buffer, pos: number | null): Promise<number>;
  stat(fd: number): fs.Stats;
  truncate(fd: number, len: number): void;
  chmod(fd: number, mode: number): void;
  close(fd: number): void;
}

const TOOL_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const CHILD_ENV = { PATH: TOOL_DIRS.join(':'), LC_ALL: 'C', LANG: 'C' };
const DEFAULT_TIMEOUT_MS = 30_000;

export function createSystem(root = '/'): System {
  const at = (p: string): string => (root === '/' ? p : path.join(root, p));
  const file = fileDoor(root, at);
  const sys: System = {
    file,
    pipes: (n) => makePipes(sys, n),
    start(tool, argv, o) {
      const { spawn } = require('child_process') as typeof cp;
      // A child inherits the umask at fork: set it for the spawn only (libuv forks synchronously).
      const old = process.umask(o.umask);
      try {
        return spawn(tool, argv.slice(1), { argv0: argv[0], env: o.env, cwd: o.cwd, stdio: o.stdio });
      } finally {
        process.umask(old);
      }
    },
    signal(pid, sig) {
      try { process.kill(pid, sig); return true; } catch { return false; }
    },
    root,
    at,
    which(tool) {
      // Tools come from the running system (they act on it); the root only holds files.
      for (const d of TOOL_DIRS) {
        const p = path.join(d, tool);
        try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
      }
      return null;
    },
    run(tool, args, opts = {}) {
      const { spawn } = require('child_process') as typeof cp;
      return new Promise((resolve) => {
        const max = opts.maxOutput ?? 64 * 1024;
        let stdout = '', stderr = '', timedOut = false;
        const child = spawn(tool, args, { stdio: ['pipe', 'pipe', 'pipe'], env: CHILD_ENV });
        const keep = (s: string, d: Buffer) => (s.length < max ? s + d.toString('utf8').slice(0, max - s.length) : s);
        child.stdout.on('data', (d: Buffer) => { stdout = keep(stdout, d); });
        child.stderr.on('data', (d: Buffer) => { stderr = keep(stderr, d); });
        // A tool that exits before reading stdin gives EPIPE; that is its exit status's business.
        child.stdin.on('error', () => { /* reported by the exit */ });
        const t = setTimeout(() => {
          timedOut = true;
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 2000).unref();
        }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
        child.on('error', (e) => { clearTimeout(t); resolve({ code: null, signal: null, stdout, stderr: e.message, timedOut }); });
        child.on('close', (code, signal) => { clearTimeout(t); resolve({ code, signal, stdout, stderr, timedOut }); });
        if (opts.input) child.stdin.end(opts.input); else child.stdin.end();
      });
    },
    readText(p) {
      try { return fs.readFileSync(at(p), 'utf8'); } catch { return null; }
    },
    writeText(p, text, opts = {}) {
      const file = at(p);
      const dir = path.dirname(file);
      let mode = opts.mode ?? 0o644, uid = opts.uid, gid = opts.gid;
      try {
        const st = fs.lstatSync(file);
        if (st.isSymbolicLink()) throw new Error(`${p} is a symbolic link; refusing to write through it`);
        mode = opts.mode ?? st.mode & 0o7777;
        uid ??= st.uid;
        gid ??= st.gid;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      const tmp = path.join(dir, `.${path.basename(file)}.phoenix-new`);
      try { fs.unlinkSync(tmp); } catch { /* none */ }
      const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode);
      try {
        fs.writeSync(fd, text);
        fs.fchmodSync(fd, mode);
        if (uid !== undefined && gid !== undefined) fs.fchownSync(fd, uid, gid);
        fs.fsyncSync(fd);
      } catch (e) {
        fs.closeSync(fd);
        try { fs.unlinkSync(tmp); } catch { /* gone */ }
        throw e;
      }
      fs.closeSync(fd);
      try {
        fs.renameSync(tmp, file);
      } catch (e) {
        try { fs.unlinkSync(tmp); } catch { /* gone */ }
        throw e;
      }
      const dfd = fs.openSync(dir, 'r');
      try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
    },
    remove(p) {
      try { fs.unlinkSync(at(p)); return true; } catch { return false; }
    },
    makeDir(p, mode) {
      fs.mkdirSync(at(p), { recursive: true, mode });
    },
  };
  return sys;
}

function fileDoor(root: string, at: (p: string) => string): FileDoor {
  const under = (real: string): string | null => {
    if (root === '/') return real;
    const base = fs.realpathSync(root);
    return real.startsWith(base + '/') ? real.slice(base.length) : null;
  };
  const io = (op: typeof fs.read, fd: number, buf: Buffer, pos: number | null): Promise<number> =>
    new Promise((resolve, reject) => op(fd, buf, 0, buf.length, pos, (e, n) => (e ? reject(e) : resolve(n))));
  return {
    open: (p, flags, mode) => fs.openSync(at(p), flags, mode),
    where(fd) {
      try { return under(fs.readlinkSync(`/proc/self/fd/${fd}`)); } catch { return null; }
    },
    read: (fd, buf, pos) => io(fs.read, fd, buf, pos),
    write: (fd, buf, pos) => io(fs.write as unknown as typeof fs.read, fd, buf, pos),
    stat: (fd) => fs.fstatSync(fd),
    truncate: (fd, len) => fs.ftruncateSync(fd, len),
    chmod: (fd, mode) => fs.fchmodSync(fd, mode),
    close: (fd) => fs.closeSync(fd),
  };
}

/** Node has no pipe(2): FIFOs made by mkfifo in a private directory, opened at both ends, unlinked. */
async function makePipes(sys: System, n: number): Promise<Array<{ read: number; write: number }>> {
  if (n === 0) return [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phoenix-pipe-'));
  const opened: number[] = [];
  const open = (p: string, flags: number): number => { const fd = fs.openSync(p, flags | fs.constants.O_NOFOLLOW); opened.push(fd); return fd; };
  try {
    const names = Array.from({ length: n }, (_, i) => path.join(dir, String(i)));
    const r = await sys.run(sys.which('mkfifo') ?? '/usr/bin/mkfifo', ['-m', '600', '--', ...names], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`mkfifo failed: ${r.stderr.trim().slice(0, 200)}`);
    const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants;
    return names.map((p) => {
      // A non-blocking reader lets the writer open without waiting; then a blocking reader replaces
      // it, so neither end a child gets is non-blocking.
      const probe = open(p, O_RDONLY | O_NONBLOCK);
      const write = open(p, O_WRONLY);
      const read = open(p, O_RDONLY);
      fs.closeSync(opened.splice(opened.indexOf(probe), 1)[0]);
      return { read, write };
    });
  } catch (e) {
    for (const fd of opened) fs.closeSync(fd);
    throw e;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

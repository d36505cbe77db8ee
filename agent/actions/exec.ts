// guest-exec and guest-exec-status, as qemu-ga (glib's g_spawn): PATH search (from the given
// environment), stdin /dev/null unless input-data is given, stdout and stderr real pipes when
// captured (one pipe for both with "merged", so write order holds) and /dev/null otherwise, a
// script without #! run by /bin/sh, and without `env` the environment, umask and working directory
// the service itself was started with. The exit status and output are kept until the first status
// call that reports the exit. The shipped configuration blocks both. Arguments are never logged.

import type * as cp from 'child_process';
import net = require('net');
import os = require('os');
import path = require('path');
import { decodeBase64 } from '../commands/base64';
import type { Host } from '../os/host';
import type { System } from '../os/system';
import { QgaError } from '../wire/reply';
import { errCode, strerror } from './errno';
import { ServiceStart, serviceStart } from './service-env';

/** qemu-ga's cap per stream. */
const MAX_OUTPUT = 16 << 20;
const MAX_RUNNING = 16;
/** Finished runs whose status nobody asked for: the oldest is forgotten beyond this many. */
const MAX_UNCLAIMED = 64;

export type Capture = boolean | 'none' | 'stdout' | 'stderr' | 'separated' | 'merged';
type Mode = 'none' | 'stdout' | 'stderr' | 'separated' | 'merged';

interface Stream { data: Buffer[]; length: number; truncated: boolean }

interface Run {
  exited: boolean;
  open: number;
  code: number | null;
  signal: number | null;
  out: Stream;
  err: Stream;
}

const failed = (file: string, code: string): never => {
  throw new QgaError('GenericError', `Guest agent command failed, error was 'Failed to execute child process \u201c${file.slice(0, 200)}\u201d (${strerror(code)})'`);
};

/** glib's search: a name with a slash as is, else each PATH entry; EACCES wins over ENOENT. */
export function findProgram(host: Host, file: string, searchPath: string): { file: string } | { code: string } {
  const probe = (p: string): string | null => {
    const st = host.stat(p);
    if ('code' in st) return st.code;
    return st.dir || !st.executable ? 'EACCES' : null;
  };
  if (file.includes('/')) { const c = probe(file); return c ? { code: c } : { file }; }
  let seen = 'ENOENT';
  for (const d of searchPath.split(':')) {
    const p = path.join(d || '.', file);
    const c = probe(p);
    if (!c) return { file: p };
    if (c === 'EACCES') seen = c;
  }
  return { code: seen };
}

export function createExec(sys: System, host: Host) {
  const runs = new Map<number, Run>();
  // The supervisor's environment and directory, read at the first guest-exec, not before the first reply.
  let started: ServiceStart | null = null;
  const service = (): ServiceStart => (started ??= serviceStart(host));

  const spawned = (file: string, argv: string[], env: NodeJS.ProcessEnv, stdio: Array<number | 'ignore'>): Promise<cp.ChildProcess | string> =>
    new Promise((resolve) => {
      let child: cp.ChildProcess;
      // Node refuses some arguments before any exec (a NUL byte): what execve would say.
      try { child = sys.start(file, argv, { env, stdio, umask: service().umask, cwd: service().cwd }); } catch { return resolve('EINVAL'); }
      child.once('spawn', () => resolve(child));
      child.once('error', (e) => resolve(errCode(e)));
    });

  return {
    async start(a: { path: string; arg?: string[]; env?: string[]; 'input-data'?: string; 'capture-output'?: Capture }): Promise<{ pid: number }> {
      const input = a['input-data'] === undefined ? null : decodeBase64(a['input-data']);
      if ([...runs.values()].filter((r) => !r.exited).length >= MAX_RUNNING) throw new QgaError('GenericError', `too many guest-exec processes running (at most ${MAX_RUNNING})`);
      const env = a.env ? envFromList(a.env) : service().env;
      if ([a.path, ...(a.arg ?? []), ...(a.env ?? [])].some((x) => x.includes('\0'))) failed(a.path, 'EINVAL');
      const found = findProgram(host, a.path, env.PATH ?? service().env.PATH ?? '/bin:/usr/bin:.');
      if ('code' in found) return failed(a.path, found.code);
      const c = a['capture-output'];
      const mode: Mode = c === true ? 'separated' : c === false || c === undefined ? 'none' : c;
      const wantOut = mode === 'stdout' || mode === 'separated' || mode === 'merged';
      const wantErr = mode === 'stderr' || mode === 'separated';
      const pipes = await sys.pipes(Number(input !== null) + Number(wantOut) + Number(wantErr));
      const stdin = input ? pipes.shift()! : null;
      const out = wantOut ? pipes.shift()! : null;
      const err = wantErr ? pipes.shift()! : null;
      const stdio = [stdin?.read ?? 'ignore', out?.write ?? 'ignore', (mode === 'merged' ? out : err)?.write ?? 'ignore'] as Array<number | 'ignore'>;
      let child = await spawned(found.file, [a.path, ...(a.arg ?? [])], env, stdio);
      // glib runs a file the kernel cannot execute (a script without #!) with /bin/sh.
      if (child === 'ENOEXEC') child = await spawned('/bin/sh', ['/bin/sh', found.file, ...(a.arg ?? [])], env, stdio);
      // The child has its ends now (or never will): the agent keeps the other ends only.
      for (const fd of [stdin?.read, out?.write, err?.write]) if (fd !== undefined) sys.file.close(fd);
      if (typeof child === 'string') {
        for (const fd of [stdin?.write, out?.read, err?.read]) if (fd !== undefined) sys.file.close(fd);
        input?.fill(0);
        return failed(a.path, child);
      }
      const r: Run = { exited: false, open: 1, code: null, signal: null, out: stream(), err: stream() };
      const done = (): void => { if (--r.open === 0) r.exited = true; };
      if (out) collect(out.read, r.out, r, done);
      if (err) collect(err.read, r.err, r, done);
      if (stdin) feed(stdin.write, input!);
      child.once('exit', (code, sig) => {
        r.code = code;
        r.signal = sig ? (os.constants.signals as Record<string, number>)[sig] ?? 0 : null;
        done();
      });
      runs.set(child.pid!, r);
      forgetUnclaimed(runs);
      return { pid: child.pid! };
    },
    status(pid: number): Record<string, unknown> {
      const r = runs.get(pid);
      if (!r) throw new QgaError('GenericError', "Invalid parameter 'pid'");
      if (!r.exited) return { exited: false };
      runs.delete(pid);
      const res: Record<string, unknown> = { exited: true };
      if (r.signal !== null) res.signal = r.signal; else res.exitcode = r.code;
      // As qemu-ga: the data (and its truncated flag) only when something was captured.
      if (r.out.length) Object.assign(res, { 'out-data': Buffer.concat(r.out.data).toString('base64'), 'out-truncated': r.out.truncated });
      if (r.err.length) Object.assign(res, { 'err-data': Buffer.concat(r.err.data).toString('base64'), 'err-truncated': r.err.truncated });
      return res;
    },
  };
}

/** A client that never asks for the status must not keep up to 32 MiB of output per run for ever. */
function forgetUnclaimed(runs: Map<number, Run>): void {
  let finished = [...runs.values()].filter((r) => r.exited).length;
  for (const [pid, r] of runs) {
    if (finished <= MAX_UNCLAIMED) return;
    if (r.exited) { runs.delete(pid); finished--; }
  }
}

const stream = (): Stream => ({ data: [], length: 0, truncated: false });

/** "K=V" strings as g_spawn passes them; an entry without "=" cannot be expressed and is dropped. */
function envFromList(list: string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const kv of list) { const i = kv.indexOf('='); if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1); }
  return env;
}

function collect(fd: number, s: Stream, r: Run, done: () => void): void {
  r.open++;
  const sock = new net.Socket({ fd, readable: true, writable: false });
  sock.on('data', (d: Buffer) => {
    const room = MAX_OUTPUT - s.length;
    if (d.length > room) s.truncated = true;
    if (room <= 0) return;
    const part = d.length > room ? d.subarray(0, room) : d;
    s.data.push(Buffer.from(part));
    s.length += part.length;
  });
  sock.on('error', () => { /* the close follows */ });
  sock.on('close', done);
}

function feed(fd: number, input: Buffer): void {
  const sock = new net.Socket({ fd, readable: false, writable: true });
  // A program that does not read its input closes the pipe: EPIPE is its business.
  sock.on('error', () => sock.destroy());
  sock.end(input, () => input.fill(0));
}

// guest-exec and guest-exec-status, as qemu-ga: run a program (PATH search, the given environment
// and stdin), keep its exit status and output (each stream capped) until the first status call
// that reports it exited. The shipped configuration blocks both. Arguments are never logged.

import type * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { QgaError } from '../wire/reply';

/** qemu-ga's cap per stream. */
const MAX_OUTPUT = 16 << 20;
const MAX_RUNNING = 16;

interface Run {
  exited: boolean;
  code: number | null;
  signal: number | null;
  out: Buffer[];
  err: Buffer[];
  outLen: number;
  errLen: number;
  outTrunc: boolean;
  errTrunc: boolean;
  capture: 'none' | 'stdout' | 'stderr' | 'separated' | 'merged';
}

export type Capture = boolean | 'none' | 'stdout' | 'stderr' | 'separated' | 'merged';

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };

function findInPath(file: string, envPath: string): string | null {
  const runnable = (p: string): boolean => { try { fs.accessSync(p, fs.constants.X_OK); return fs.statSync(p).isFile(); } catch { return false; } };
  if (file.includes('/')) return runnable(file) ? file : null;
  for (const d of envPath.split(':')) {
    const p = path.join(d || '.', file);
    if (runnable(p)) return p;
  }
  return null;
}

export function createExec() {
  const runs = new Map<number, Run>();
  return {
    start(a: { path: string; arg?: string[]; env?: string[]; 'input-data'?: string; 'capture-output'?: Capture }): { pid: number } {
      if ([...runs.values()].filter((r) => !r.exited).length >= MAX_RUNNING) throw new QgaError('GenericError', `too many guest-exec processes running (at most ${MAX_RUNNING})`);
      const env: Record<string, string> = {};
      for (const kv of a.env ?? ['PATH=/usr/sbin:/usr/bin:/sbin:/bin']) { const i = kv.indexOf('='); if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1); }
      const file = findInPath(a.path, env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin');
      if (!file || a.path.includes('\0') || (a.arg ?? []).some((x) => x.includes('\0'))) throw new QgaError('GenericError', `Guest agent command failed, error was 'Failed to execute child process \u201c${a.path.slice(0, 200)}\u201d (No such file or directory)'`);
      const capture = a['capture-output'] === true ? 'separated' : a['capture-output'] === false || a['capture-output'] === undefined ? 'none' : a['capture-output'];
      const { spawn } = require('child_process') as typeof cp;
      const child = spawn(file, a.arg ?? [], { env, stdio: ['pipe', capture === 'none' ? 'ignore' : 'pipe', capture === 'none' ? 'ignore' : 'pipe'], argv0: a.path });
      const r: Run = { exited: false, code: null, signal: null, out: [], err: [], outLen: 0, errLen: 0, outTrunc: false, errTrunc: false, capture };
      const take = (which: 'out' | 'err') => (d: Buffer) => {
        const to = capture === 'merged' ? 'out' : which;
        if ((capture === 'stdout' && which === 'err') || (capture === 'stderr' && which === 'out')) return;
        const len = to === 'out' ? r.outLen : r.errLen;
        const room = MAX_OUTPUT - len;
        if (room <= 0) { if (to === 'out') r.outTrunc = true; else r.errTrunc = true; return; }
        const part = d.length > room ? d.subarray(0, room) : d;
        if (part.length < d.length) { if (to === 'out') r.outTrunc = true; else r.errTrunc = true; }
        r[to].push(Buffer.from(part));
        if (to === 'out') r.outLen += part.length; else r.errLen += part.length;
      };
      child.stdout?.on('data', take('out'));
      child.stderr?.on('data', take('err'));
      child.stdin!.on('error', () => { /* the program did not read its input */ });
      child.on('error', () => { r.exited = true; r.code = 127; });
      child.on('close', (code, sig) => { r.exited = true; r.code = code; r.signal = sig ? SIGNALS[sig] ?? 0 : null; });
      child.stdin!.end(a['input-data'] ? Buffer.from(a['input-data'], 'base64') : undefined);
      if (!child.pid) throw new QgaError('GenericError', `cannot start ${a.path.slice(0, 200)}`);
      runs.set(child.pid, r);
      return { pid: child.pid };
    },
    status(pid: number): Record<string, unknown> {
      const r = runs.get(pid);
      if (!r) throw new QgaError('GenericError', "Invalid parameter 'pid'");
      if (!r.exited) return { exited: false };
      runs.delete(pid);
      const out: Record<string, unknown> = { exited: true };
      if (r.signal !== null) out.signal = r.signal; else out.exitcode = r.code;
      if (r.capture !== 'none') {
        if (r.capture !== 'stderr') { out['out-data'] = Buffer.concat(r.out).toString('base64'); if (r.outTrunc) out['out-truncated'] = true; }
        if (r.capture === 'separated' || r.capture === 'stderr') { out['err-data'] = Buffer.concat(r.err).toString('base64'); if (r.errTrunc) out['err-truncated'] = true; }
      }
      return out;
    },
  };
}

// Leaving nothing behind: run directories owned by this process, the processes started in them,
// a synchronous exit handler for what a failed test did not clean up, and a sweep of what an
// earlier run left when it was killed outright (SIGKILL runs no handler).

import * as fs from 'fs';
import * as path from 'path';
import { atExit } from '../../helpers/at-exit';
import { removeTree, RUN_DIR } from './host';

// Signals end the process through exit, so the one exit handler of at-exit.ts runs the cleanups.
// Each test file is bundled with its own copy of this module: the flag is shared through globalThis.
const SIGNALS_KEY = Symbol.for('phoenix-ga.test.e2e-signals');

/** Registers a synchronous cleanup run at process exit (also on SIGINT/SIGTERM/SIGHUP); returns its removal. */
export function onExit(fn: () => void): () => void {
  const g = globalThis as unknown as Record<symbol, boolean | undefined>;
  if (!g[SIGNALS_KEY]) {
    g[SIGNALS_KEY] = true;
    // Children are started in their own sessions, so a terminal's ^C never reaches them.
    for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]] as const) process.once(sig, () => process.exit(128 + n));
  }
  return atExit(fn);
}

// Field 22 of /proc/PID/stat: with the pid it names one process, so a reused pid is never killed
// (pid_max is 32768 here and a test run wraps it).
export function startTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Notes a process started for this run directory so a later sweep can kill it. */
export function recordProcess(dir: string, pid: number): void {
  fs.appendFileSync(path.join(dir, 'procs'), `${pid} ${startTime(pid)}\n`);
}

/** SIGKILL to pid if it is still the process that had this start time. */
export function killIfSame(pid: number, start: string | null): void {
  if (pid > 1 && start && startTime(pid) === start) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* exited meanwhile */ }
  }
}

/** SIGKILLs the recorded processes of dir that are still the same processes. */
export function killRecorded(dir: string): void {
  let lines: string[];
  try { lines = fs.readFileSync(path.join(dir, 'procs'), 'utf8').trim().split('\n'); } catch { return; }
  for (const line of lines.reverse()) {
    const [pid, start] = line.split(' ');
    killIfSame(Number(pid), start ?? null);
  }
}

// A killed owner stays a zombie until the host's init reaps it, which can take seconds here.
function alive(pid: number): boolean {
  try { return !/^\d+ \(.*\) Z/s.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; }
}

/** Notes an empty directory outside dir that a sweep should remove with it (nspawn's propagate dir). */
export function recordLeftover(dir: string, emptyDir: string): void {
  fs.appendFileSync(path.join(dir, 'leftovers'), `${emptyDir}\n`);
}

function removeLeftovers(dir: string): void {
  let lines: string[] = [];
  try { lines = fs.readFileSync(path.join(dir, 'leftovers'), 'utf8').split('\n').filter(Boolean); } catch { /* none */ }
  for (const d of lines) try { fs.rmdirSync(d); } catch { /* absent or not empty */ }
}

/** Removes run directories whose owning process is gone, killing what they recorded first. */
export function sweepStale(): void {
  if (!fs.existsSync(RUN_DIR)) return;
  for (const name of fs.readdirSync(RUN_DIR)) {
    const dir = path.join(RUN_DIR, name);
    let owner = 0;
    try { owner = Number(fs.readFileSync(path.join(dir, 'owner'), 'utf8')); } catch { /* no owner yet: judged by age below */ }
    if (owner ? alive(owner) : Date.now() - fs.statSync(dir).mtimeMs < 60_000) continue;
    killRecorded(dir);
    removeLeftovers(dir);
    try { removeTree(dir); } catch (e) { process.stderr.write(`[e2e] stale ${dir}: ${(e as Error).message}\n`); }
  }
}

/** A fresh run directory RUN_DIR/<prefix>-XXXXXX owned by this process (stale ones are swept first). */
export function claimRunDir(prefix: string): string {
  sweepStale();
  fs.mkdirSync(RUN_DIR, { recursive: true });
  const dir = fs.mkdtempSync(path.join(RUN_DIR, `${prefix.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40)}-`));
  fs.writeFileSync(path.join(dir, 'owner'), String(process.pid));
  return dir;
}

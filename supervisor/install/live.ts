// The installer's steps on the running system (only when installing into "/"): which init runs,
// (re)starting the service under it so the version just installed is the one running, waiting
// until it is, and stopping it before an uninstall.

import { execFileSync } from 'child_process';
import * as fs from 'fs';
import type { InitSystem } from './init-system';
import type { PersistedState } from '../state-store';
import { deletedFilesOf, processes, ProcessUse } from './in-use';

const SERVICE = 'phoenix-ga';
/** The supervisor's and the worker's process names (comm: the worker's title cut to 15 bytes). */
const SUPERVISOR_COMM = 'phoenix-ga';
const WORKER_COMM = 'phoenix-ga-work';

export function runningInit(): InitSystem {
  if (fs.existsSync('/run/systemd/system')) return 'systemd';
  let exe = '';
  try { exe = fs.readlinkSync('/proc/1/exe'); } catch { /* not ours to read */ }
  if (fs.existsSync('/sbin/initctl') && /upstart/.test(exe)) return 'upstart';
  return 'sysvinit';
}

/**
 * Why services must not be started or stopped here, or null: a chroot (PID 1 has another root:
 * an image being built), or a policy-rc.d that refuses (exit 101), as invoke-rc.d honours it.
 */
export function whyNotStart(): string | null {
  try {
    const a = fs.statSync('/'), b = fs.statSync('/proc/1/root/');
    if (a.dev !== b.dev || a.ino !== b.ino) return 'in a chroot';
  } catch { return 'no /proc: in a chroot'; }
  if (fs.existsSync('/usr/sbin/policy-rc.d')) {
    try { execFileSync('/usr/sbin/policy-rc.d', [SERVICE, 'start'], { stdio: 'ignore' }); } catch (e) {
      if ((e as { status?: number }).status === 101) return '/usr/sbin/policy-rc.d forbids it (101)';
    }
  }
  return null;
}

/** Runs CMD; the line says what ran, or how it failed. */
export function run(cmd: string, args: string[]): { ok: boolean; line: string } {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 60_000 });
    return { ok: true, line: `ran ${cmd} ${args.join(' ')}` };
  } catch (e) {
    return { ok: false, line: `${cmd} ${args.join(' ')} failed: ${(e as Error).message.split('\n')[0]}` };
  }
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Our running supervisors and workers, with the directory each runs from. */
export function ourProcesses(lib: string): Array<ProcessUse & { worker: boolean }> {
  return processes().filter((p) => (p.comm === SUPERVISOR_COMM || p.comm === WORKER_COMM) && p.exe.startsWith(`${lib}/`))
    .map((p) => ({ ...p, worker: p.comm === WORKER_COMM }));
}

/** The init's commands for restartService, in order. */
export function restartCommands(init: InitSystem): string[][] {
  if (init === 'systemd') return [['systemctl', 'daemon-reload'], ['systemctl', 'restart', SERVICE]];
  // upstart: `restart` would keep the job's old definition; stop (fails when not running), then start.
  if (init === 'upstart') return [['initctl', 'stop', SERVICE], ['initctl', 'start', SERVICE]];
  return [['telinit', 'q']];
}

/**
 * Makes the service run the version now installed: systemd and upstart restart it; sysvinit
 * re-reads inittab (which starts a new entry) and a supervisor of another version gets SIGTERM,
 * after which init respawns it from the launcher, now the new version's.
 */
export function restartService(init: InitSystem, lib: string, versionDir: string): string[] {
  const lines = restartCommands(init).map(([cmd, ...args]) => run(cmd, args).line);
  if (init !== 'sysvinit') return lines;
  for (const p of ourProcesses(lib)) {
    if (p.worker || p.exe.startsWith(`${versionDir}/`)) continue;
    try { process.kill(p.pid, 'SIGTERM'); lines.push(`sent SIGTERM to the supervisor of the previous version (pid ${p.pid}); init respawns it`); } catch { /* gone */ }
  }
  return lines;
}

/** Stops the service before its files go (sysvinit: the caller has removed the inittab entry). */
export function stopService(init: InitSystem): string[] {
  if (init === 'systemd') return [run('systemctl', ['disable', '--now', SERVICE]).line];
  if (init === 'upstart') return [run('initctl', ['stop', SERVICE]).line];
  // init stops the processes of an entry that is gone from inittab when it re-reads the file.
  return [run('telinit', ['q']).line];
}

/** What the supervisor's state file says of a version (the worker has answered `ready`), or null. */
function notReady(stateFile: string | null, version: string): string | null {
  if (stateFile === null) return null;
  let s: PersistedState | null = null;
  try { s = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as PersistedState; } catch { return `no state in ${stateFile}`; }
  if (s.supervisor.version !== version) return `${stateFile} is from supervisor ${s.supervisor.version}`;
  return s.worker.state === 'ready' ? null : `the worker is ${s.worker.state} (${stateFile})`;
}

/**
 * Waits until exactly the supervisor and worker of VERSION (in VERSIONDIR) run, the worker is
 * ready, and nothing of ours runs from a deleted file; null when so, else what is wrong.
 */
export function waitRunning(lib: string, versionDir: string, timeoutMs: number, stateFile: string | null = null): string | null {
  const end = Date.now() + timeoutMs;
  const version = versionDir.slice(versionDir.lastIndexOf('/') + 1);
  let why = '';
  for (;;) {
    const ours = ourProcesses(lib);
    const sup = ours.filter((p) => !p.worker);
    const workers = ours.filter((p) => p.worker);
    const deleted = ours.flatMap((p) => deletedFilesOf(p.pid).map((f) => `pid ${p.pid} runs from deleted ${f}`));
    const other = ours.filter((p) => !p.exe.startsWith(`${versionDir}/`));
    const state = notReady(stateFile, version);
    if (sup.length === 1 && workers.length === 1 && other.length === 0 && deleted.length === 0 && state === null) return null;
    why = state !== null && sup.length === 1 ? state : sup.length === 0 ? 'no supervisor runs' : workers.length === 0 ? 'no worker runs'
      : other.length ? `still running from another version: ${other.map((p) => `pid ${p.pid} (${p.comm}) ${p.exe}`).join(', ')}`
        : deleted.length ? deleted.join(', ') : `${sup.length} supervisors and ${workers.length} workers run`;
    if (Date.now() > end) return why;
    sleep(200);
  }
}

/** Waits until no process of ours runs from LIB (after stopService). */
export function waitStopped(lib: string, timeoutMs: number): ProcessUse[] {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const left = ourProcesses(lib);
    if (left.length === 0 || Date.now() > end) return left;
    sleep(200);
  }
}

// The container's init as seen from the host: finding its PID 1, running commands in all of its
// namespaces with nsenter (no machined or D-Bus on this host, so no machinectl or systemd-run -M),
// and waiting until it has finished booting.

import { spawn } from 'child_process';
import * as fs from 'fs';

export type InitKind = 'systemd' | 'sysvinit';
export interface ExecResult { code: number; stdout: string; stderr: string }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// The guest sees its own PATH and HOME, not the test runner's environment (NODE_OPTIONS and such).
const GUEST_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8', TERM: 'dumb' };

function status(pid: number): string {
  try { return fs.readFileSync(`/proc/${pid}/status`, 'utf8'); } catch { return ''; }
}

/**
 * The container's PID 1: the child of systemd-nspawn that is PID 1 in its own namespace
 * ("NSpid: <host pid> 1") and has exec'd init (before that its name is still systemd-nspawn).
 */
export async function findPid1(nspawnPid: number, exited: () => boolean, timeoutMs = 15_000): Promise<{ pid1: number; init: InitKind }> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end && !exited()) {
    for (const name of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const s = status(Number(name));
      if (!new RegExp(`^PPid:\\s+${nspawnPid}$`, 'm').test(s) || !/^NSpid:\s+\d+\s+1$/m.test(s)) continue;
      const comm = /^Name:\s+(.*)$/m.exec(s)?.[1];
      if (comm === 'systemd') return { pid1: Number(name), init: 'systemd' };
      if (comm === 'init') return { pid1: Number(name), init: 'sysvinit' };
    }
    await sleep(20);
  }
  throw new Error(exited() ? 'systemd-nspawn exited before the container\'s init started' : `no container init under systemd-nspawn pid ${nspawnPid} after ${timeoutMs} ms`);
}

/**
 * Runs `sh -c cmd` in every namespace of pid1; on timeout the command is killed and the call
 * rejects. It returns once sh has exited: a background process that keeps stdout open (`daemon &`)
 * gets 200 ms to flush, then the pipes are closed, so redirect what a daemon prints.
 */
export function nsenterExec(pid1: number, cmd: string, timeoutMs = 30_000): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    // detached: nsenter forks into the pid namespace, so only killing the group reaches the shell.
    const child = spawn('nsenter', ['-t', String(pid1), '-a', 'sh', '-c', cmd], { env: GUEST_ENV, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    let exitCode: number | null = null;
    const timer = setTimeout(() => {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
      reject(new Error(`e2e: container command timed out after ${timeoutMs} ms: ${cmd}\nstdout: ${stdout.slice(-1000)}\nstderr: ${stderr.slice(-1000)}`));
    }, timeoutMs);
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ code: exitCode ?? 128, stdout, stderr });
    };
    child.on('error', (e) => { clearTimeout(timer); reject(Object.assign(new Error(`e2e: cannot run nsenter: ${e.message}`), { cause: e })); });
    child.on('exit', (code) => {
      exitCode = code ?? 128;
      clearTimeout(timer);
      const grace = setTimeout(done, 200);
      child.once('close', () => { clearTimeout(grace); done(); });
    });
  });
}

// systemd: the boot transaction is done. sysvinit: the runlevel is 2-5 and its rc script has
// finished (init writes the runlevel before it runs /etc/init.d/rc, and respawn entries after it).
const READY: Record<InitKind, string> = {
  systemd: 'systemctl is-system-running 2>/dev/null',
  sysvinit: 'r=$(runlevel 2>/dev/null); case $r in *" "[2-5]) pgrep -f "^/bin/sh /etc/init.d/rc [2-5]" >/dev/null || echo running;; *) echo "$r";; esac',
};

/** Waits until init has finished booting; returns the state it reported (running, degraded). */
export async function waitInitReady(pid1: number, init: InitKind, exited: () => boolean, timeoutMs = 90_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    if (exited()) throw new Error(`e2e: the container exited while booting (last state: ${last || 'none'})`);
    last = (await nsenterExec(pid1, READY[init], 10_000).catch(() => ({ stdout: '' }))).stdout.trim();
    if (last === 'running' || last === 'degraded') return last;
    await sleep(100);
  }
  throw new Error(`e2e: ${init} in the container not ready after ${timeoutMs} ms (last state: ${last || 'none'})`);
}

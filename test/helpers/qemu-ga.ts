// Runs Debian's real qemu-ga (package qemu-guest-agent) on a unix socket in a temporary
// directory, so tests can send it the same bytes as phoenix-ga and compare the replies.

import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tempDir, waitFor } from './agent';
import { atExit } from './at-exit';

export const QEMU_GA = ['/usr/sbin/qemu-ga', '/usr/bin/qemu-ga'].find((p) => fs.existsSync(p)) ?? null;

export interface QemuGa {
  proc: ChildProcess;
  sock: string;
  version: string;
  stop(): void;
}

/** WRAP: a command to run qemu-ga under, e.g. ['nsenter', '-t', PID, '-m', '--'] (as startAgent's). */
export async function startQemuGa(extra: string[] = [], wrap: string[] = []): Promise<QemuGa> {
  if (!QEMU_GA) throw new Error('qemu-ga not found: apt-get install qemu-guest-agent (.ci/run does)');
  const dir = tempDir('qga-');
  const sock = path.join(dir, 'qga.sock');
  const [cmd, ...pre] = [...wrap, QEMU_GA];
  const proc = spawn(cmd, [...pre, '-m', 'unix-listen', '-p', sock, '-t', dir, '-f', path.join(dir, 'qga.pid'), '-l', path.join(dir, 'qga.log'), ...extra], { stdio: 'ignore' });
  await waitFor('qemu-ga socket', () => fs.existsSync(sock), 5000);
  const version = /(\d+\.\d+\.\d+)/.exec(spawnSync(QEMU_GA, ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? '?';
  let exited = false;
  proc.once('exit', () => { exited = true; });
  // Debian's qemu-ga 7.2 sometimes never exits on SIGTERM (both threads parked on a futex): it is
  // killed 2 s later, or when the test process ends, so no test leaves one running.
  const kill = (): void => { if (!exited) proc.kill('SIGKILL'); };
  atExit(kill);
  return {
    proc, sock, version,
    stop: () => {
      if (exited) return;
      proc.kill('SIGTERM');
      setTimeout(kill, 2000).unref();
    },
  };
}

// A private mount namespace for tests that compare what two agents see of the machine's file
// systems: made once, so mounts that other processes make or remove meanwhile are not seen by
// either agent, and without the loop devices other tests mounted (their images).

import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import { waitFor } from './agent';

export interface MountNamespace {
  /** Prefix for startAgent({ wrap }) and startQemuGa(extra, wrap): run the program inside. */
  wrap: string[];
  /** The loop-device mounts that were detached in it. */
  detached: string[];
  close(): void;
}

/** /proc/PID/mounts escapes space, tab, newline and backslash as octal. */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));

export async function privateMountNamespace(): Promise<MountNamespace> {
  const holder: ChildProcess = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '3600'], { stdio: 'ignore' });
  const pid = holder.pid!;
  const self = fs.readlinkSync('/proc/self/ns/mnt');
  await waitFor('the namespace', () => { try { return fs.readlinkSync(`/proc/${pid}/ns/mnt`) !== self; } catch { return false; } }, 5000);
  const wrap = ['nsenter', '-t', String(pid), '-m', '--'];
  const loops = fs.readFileSync(`/proc/${pid}/mounts`, 'utf8').split('\n').map((l) => l.split(' '))
    .filter(([dev]) => /^\/dev\/loop\d+$/.test(dev)).map(([, at]) => unescape(at)).sort().reverse();
  for (const at of loops) execFileSync(wrap[0], [...wrap.slice(1), 'umount', '-l', at], { stdio: 'ignore' });
  return { wrap, detached: loops, close: () => holder.kill('SIGKILL') };
}

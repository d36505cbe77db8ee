// A throwaway local account with a random uid (useradd, removed by remove()), a home for it inside
// an --os-root tree, and processes run as that account with nothing of root left (setpriv: real and
// effective ids, no supplementary groups, no new privileges), as an attacker on the machine would be.

import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import type { Tree } from '../helpers/root-tree';
import { waitFor } from '../helpers/agent';

/** Python outside root's home (pyenv shims under /root are not reachable by other users). */
export const PYTHON = ['/usr/bin/python3', '/usr/bin/python3.11'].find((p) => fs.existsSync(p)) ?? 'python3';

export interface LocalUser {
  name: string;
  uid: number;
  gid: number;
  /** Its home in the tree (host path), owned by it, 0755. */
  home: string;
  /** Runs PROGRAM as this user; stdout lines go to lines(). */
  spawn(program: string[], opts?: { cwd?: string }): Racer;
  /** Runs PROGRAM as this user to completion; throws on failure. */
  run(program: string[]): string;
  remove(): void;
}

export interface Racer {
  proc: ChildProcess;
  lines(): string[];
  waitFor(line: string): Promise<void>;
  stop(): Promise<void>;
}

export function addLocalUser(tree: Tree): LocalUser {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const name = `pgasec${crypto.randomBytes(3).toString('hex')}`;
  let uid = 0;
  // Another test may hold a uid at the same moment: try a few.
  for (let i = 0; ; i++) {
    uid = 30000 + crypto.randomInt(30000);
    try {
      execFileSync('useradd', ['-M', '-d', '/nonexistent', '-s', '/usr/sbin/nologin', '-u', String(uid), '-U', name], { stdio: 'pipe' });
      break;
    } catch (e) {
      if (i > 5) throw e;
    }
  }
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  // The tree and its /home must be traversable by the user, as / and /home are on a real system.
  fs.chmodSync(tree.root, 0o755);
  fs.chmodSync(tree.file('/home'), 0o755);
  const home = tree.file(`/home/${name}`);
  fs.mkdirSync(home, { mode: 0o755 });
  fs.chownSync(home, uid, gid);
  fs.appendFileSync(tree.file('/etc/passwd'), `${name}:x:${uid}:${gid}::/home/${name}:/bin/sh\n`);
  fs.appendFileSync(tree.file('/etc/group'), `${name}:x:${gid}:\n`);
  const asUser = ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--no-new-privs', '--'];
  const env = { PATH: '/usr/bin:/bin', LC_ALL: 'C' };
  return {
    name, uid, gid, home,
    spawn(program, opts = {}) {
      const [cmd, ...args] = [...asUser, ...program];
      const proc = spawn(cmd, args, { cwd: opts.cwd ?? home, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '', err = '';
      proc.stdout!.on('data', (d) => { out += d; });
      proc.stderr!.on('data', (d) => { err += d; });
      const exited = new Promise<void>((r) => proc.on('exit', () => r()));
      const lines = () => out.split('\n').filter(Boolean);
      return {
        proc,
        lines,
        waitFor: (line) => waitFor(`racer line '${line}'`, () => {
          if (proc.exitCode !== null) throw new Error(`racer exited: ${err.slice(-500)}`);
          return lines().includes(line);
        }, 5000).then(() => undefined),
        async stop() {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
          await exited;
        },
      };
    },
    run(program) {
      const [cmd, ...args] = [...asUser, ...program];
      return execFileSync(cmd, args, { cwd: home, env, encoding: 'utf8' });
    },
    remove() {
      try { execFileSync('userdel', [name], { stdio: 'ignore' }); } catch { /* gone */ }
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

/** A python3 program (run with -I: nothing from the environment or the user's site). */
export const py = (source: string, ...args: string[]): string[] => [PYTHON, '-I', '-c', source, ...args];

/** renameat2(RENAME_EXCHANGE) through ctypes, shared by the racers. */
export const PY_EXCHANGE = `
import ctypes, os
_libc = ctypes.CDLL(None, use_errno=True)
_libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
def exchange(a, b):
    return _libc.renameat2(-100, a, -100, b, 2) == 0
`;

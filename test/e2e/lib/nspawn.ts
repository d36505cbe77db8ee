// Booting a cached tree with systemd-nspawn, in two phases: prepareRoot lays a writable overlay
// on the tree so a test (or the product's installer) can write into it from outside, then boot
// runs its init as PID 1. The host has no systemd, hence --register=no --keep-unit (without them
// nspawn asks the host's D-Bus for a scope unit and fails).

import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { claimRunDir, killIfSame, onExit, recordLeftover, recordProcess, startTime } from './cleanup';
import { mustRun, note, removeTree, requireHost, since } from './host';
import { ExecResult, findPid1, InitKind, nsenterExec, waitInitReady } from './nspawn-init';

export type { ExecResult, InitKind } from './nspawn-init';

export interface Root {
  /** Overlay of the tree: write here before boot; the container sees it as /. */
  merged: string;
  /** The overlay's upper layer: exactly what the test and the container changed. */
  upper: string;
  /** The run directory holding upper, merged and console.log. */
  dir: string;
  /** The nspawn machine name, also the container's hostname. */
  machine: string;
  /** The container currently booted on this root, if any. */
  container: Container | null;
  /** Stops a container still running on it, unmounts the overlay and removes the run directory. */
  cleanup(): Promise<void>;
}

export interface Bind { host: string; guest: string; readOnly?: boolean }
export interface BootOptions {
  binds?: Bind[];
  /** A network namespace name (/run/netns/NAME) or path; default: a private network with only lo. */
  netns?: string;
  /** Capabilities to keep beyond nspawn's default set, e.g. CAP_NET_ADMIN for systemd-networkd. */
  capabilities?: string[];
  /** How long init may take to finish booting; default 90 s. */
  timeoutMs?: number;
}

export interface Container {
  pid1: number;
  init: InitKind;
  machine: string;
  /** Runs `sh -c cmd` in all of the container's namespaces (nsenter), default timeout 30 s. */
  exec(cmd: string, opts?: { timeoutMs?: number }): Promise<ExecResult>;
  /** Clean shutdown (then SIGKILL after 20 s); the overlay stays mounted. */
  stop(): Promise<void>;
  /** stop, then boot the same root again: everything written so far persists. */
  reboot(): Promise<Container>;
  /** What init wrote to the console during this boot. */
  console(): string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const STOP_GRACE_MS = 20_000;

export async function prepareRoot(tree: string, name: string): Promise<Root> {
  requireHost('nspawn', ['systemd-nspawn', 'nsenter']);
  if (!fs.existsSync(path.join(tree, 'sbin/init'))) throw new Error(`e2e: ${tree} is not a bootable tree (no sbin/init); use ensureTree()`);
  const dir = claimRunDir(name);
  const [upper, work, merged] = ['upper', 'work', 'merged'].map((d) => path.join(dir, d));
  for (const d of [upper, work, merged]) fs.mkdirSync(d);
  const machine = `e2e-${path.basename(dir)}`.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 64);
  recordLeftover(dir, propagateDir(machine));
  const forget = onExit(() => { removeTree(dir); removePropagateDir(machine); });
  try {
    await mustRun('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${tree},upperdir=${upper},workdir=${work}`, merged]);
  } catch (e) {
    removeTree(dir);
    forget();
    throw e;
  }
  const root: Root = {
    merged, upper, dir, machine, container: null,
    async cleanup() {
      await root.container?.stop();
      removeTree(dir);
      removePropagateDir(machine);
      forget();
    },
  };
  return root;
}

// nspawn cannot remove its propagation directory when /run is not a tmpfs (it says "Attempted to
// remove disk file system ... and we can't allow that"), so the empty directory is removed here.
const propagateDir = (machine: string) => `/run/systemd/nspawn/propagate/${machine}`;
function removePropagateDir(machine: string): void {
  try { fs.rmdirSync(propagateDir(machine)); } catch { /* absent or not empty */ }
}

function nspawnArgs(root: Root, opts: BootOptions): string[] {
  const net = opts.netns
    ? [`--network-namespace-path=${opts.netns.includes('/') ? opts.netns : `/run/netns/${opts.netns}`}`]
    : ['--private-network'];
  const binds = (opts.binds ?? []).map((b) => {
    if (!path.isAbsolute(b.host) || !path.isAbsolute(b.guest) || `${b.host}${b.guest}`.includes(':')) {
      throw new Error(`e2e: bind paths must be absolute and free of ':', got ${JSON.stringify(b)}`);
    }
    return `--bind${b.readOnly ? '-ro' : ''}=${b.host}:${b.guest}`;
  });
  // --console=read-only: init's console goes to our log, and no tty is needed (CI has none).
  const caps = opts.capabilities?.length ? [`--capability=${opts.capabilities.join(',')}`] : [];
  return ['-b', '-D', root.merged, '--register=no', '--keep-unit', '--console=read-only', `--machine=${root.machine}`, ...net, ...binds, ...caps];
}

export async function boot(root: Root, opts: BootOptions = {}): Promise<Container> {
  if (root.container) throw new Error(`e2e: ${root.machine} is already booted (pid1 ${root.container.pid1})`);
  const args = nspawnArgs(root, opts);
  const consoleLog = path.join(root.dir, 'console.log');
  const fd = fs.openSync(consoleLog, 'a');
  const offset = fs.fstatSync(fd).size;
  const t0 = Date.now();
  // detached: its own session, so it can be stopped without signalling the test runner.
  const proc = spawn('systemd-nspawn', args, { detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    proc.once('exit', () => { exited = true; resolve(); });
    proc.once('error', () => { exited = true; resolve(); });
  });
  recordProcess(root.dir, proc.pid!);
  let pid1 = 0;
  let pid1Start: string | null = null;
  // The container's init outlives a SIGKILLed nspawn (it is reparented), so both are killed;
  // init only while it is the same process, nspawn only until it has been reaped.
  const kill = () => {
    killIfSame(pid1, pid1Start);
    if (!exited) try { process.kill(proc.pid!, 'SIGKILL'); } catch { /* gone */ }
  };
  const forget = onExit(kill);
  const readConsole = () => { try { return fs.readFileSync(consoleLog).subarray(offset).toString('utf8'); } catch { return ''; } };

  let init: InitKind;
  let state: string;
  try {
    ({ pid1, init } = await findPid1(proc.pid!, () => exited));
    pid1Start = startTime(pid1);
    recordProcess(root.dir, pid1);
    state = await waitInitReady(pid1, init, () => exited, opts.timeoutMs);
  } catch (e) {
    kill();
    await Promise.race([exit, sleep(5000)]);
    forget();
    removePropagateDir(root.machine);
    throw Object.assign(new Error(`${(e as Error).message}\n--- console of ${root.machine} ---\n${readConsole().slice(-3000)}`), { cause: e });
  }
  note(`nspawn ${root.machine}: ${init} ${state} ${since(t0)} after start`);

  let stopping: Promise<void> | null = null;
  const container: Container = {
    pid1, init, machine: root.machine,
    exec(cmd, o = {}) {
      if (stopping || exited) return Promise.reject(new Error(`e2e: ${root.machine} is not running; cannot run ${cmd}`));
      return nsenterExec(pid1, cmd, o.timeoutMs);
    },
    stop() {
      stopping ??= (async () => {
        const t1 = Date.now();
        // systemd halts on nspawn's forwarded SIGTERM (SIGRTMIN+3); sysvinit ignores that signal.
        if (exited) { /* init ended by itself (poweroff inside) */ } else if (init === 'systemd') process.kill(proc.pid!, 'SIGTERM');
        else nsenterExec(pid1, 'telinit 0', 5000).catch(() => undefined);
        const clean = await Promise.race([exit.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
        if (!clean) kill();
        await exit;
        forget();
        removePropagateDir(root.machine);
        // sysvinit's shutdown remounts / read-only, which is the overlay itself: make it writable
        // again, so the test can change files between boots (as the automation does).
        try { execFileSync('mount', ['-o', 'remount,rw', root.merged], { stdio: 'ignore' }); } catch { /* already rw */ }
        root.container = null;
        note(`nspawn ${root.machine}: ${clean ? 'shut down' : 'killed after no shutdown'} in ${since(t1)}`);
      })();
      return stopping;
    },
    async reboot() {
      await container.stop();
      return boot(root, opts);
    },
    console: readConsole,
  };
  root.container = container;
  // A container that powered itself off no longer blocks booting the root again.
  void exit.then(() => { if (root.container === container) root.container = null; });
  return container;
}

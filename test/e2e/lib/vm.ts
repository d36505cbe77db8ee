// A QEMU VM booted from the cached 'vm' tree under TCG (this host's /dev/kvm is a PVM nested
// hypervisor on which a stock kernel never gets past its decompressor). The agent's
// virtio-serial port and the test shell's port are unix sockets on the host; slirp networking
// lets the guest (10.0.2.15) reach the host's 127.0.0.1 as 10.0.2.2.

import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { claimRunDir, onExit, recordProcess } from './cleanup';
import { mustRun, note, removeTree, requireHost, since } from './host';
import { ensureTree } from './rootfs';
import { diskImage, Inject, kernelOf } from './vm-image';
import { qmp } from './vm-qmp';
import { serialShell, ShellResult } from './vm-shell';

export type { Inject } from './vm-image';
export type { ShellResult } from './vm-shell';

export interface VmOptions {
  /** Default: ensureTree('vm'). */
  tree?: string;
  /** Files copied into the guest's disk before boot. */
  inject?: Inject[];
  /** Guest memory, default 512. */
  memMb?: number;
  /** Name of the agent's virtio-serial port, default org.qemu.guest_agent.0. */
  agentPort?: string;
  /** Until the test shell answers, default 180 s (measured: 23-33 s). */
  bootTimeoutMs?: number;
  /**
   * A raw disk image the test owns, booted read-write (no snapshot): what the guest writes stays
   * in it across stop, kill and a later startVm on the same file (a clone is a copy of it). Made
   * from tree and inject when the file does not exist yet; booted as it is when it does. Kept
   * after stop and kill: the test removes it.
   */
  disk?: string;
  /** More QEMU arguments, appended: -smbios type=1,uuid=..., -device vmgenid,guid=..., a second drive. */
  extraArgs?: string[];
}

export interface Vm {
  /** Host end of the agent's port: connect here as libvirt would. */
  agentSock: string;
  /** The run directory (console.log, sockets); removed by stop. */
  dir: string;
  pid: number;
  /** Runs a bash script in the guest as root, stdout and stderr merged; default timeout 60 s. */
  shell(script: string, timeoutMs?: number): Promise<ShellResult>;
  /** Reboots the guest from inside (a clean systemd reboot) and waits for the shell; disk changes persist. */
  reboot(): Promise<void>;
  /** Waits for a boot other than BEFORE (a boot id) to reach the shell: a reboot the guest started itself. */
  awaitReboot(before: string): Promise<void>;
  /** Quits QEMU (SIGTERM, then SIGKILL after 5 s) and removes the run directory; the disk's changes are gone (unless opts.disk). */
  stop(): Promise<void>;
  /** A power cut: SIGKILL to QEMU at once, then as stop. What the guest had not written to its disk is lost. */
  kill(): Promise<void>;
  /** The serial console so far (kernel, systemd, a root login); kept after stop. */
  console(): string;
  /** One QMP command on the VM's monitor (`stop`, `cont`, `query-status`...): its `return`. */
  monitor(execute: string, args?: Record<string, unknown>): Promise<unknown>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SHELL_PORT = 'e2e.shell';
/** MiB of TCG translation cache (see qemuArgs); libvirt's domains use the same. */
export const TB_CACHE_MB = 256;

function qemuArgs(dir: string, disk: string, persistent: boolean, kernel: string, initrd: string, mem: number, agentPort: string): string[] {
  const p = (n: string) => path.join(dir, n);
  return [
    // tb-size: with QEMU's default translation cache (1 GiB), a reboot in the same QEMU process
    // took 30-69 s (two runs of three in a row) against 20-23 s for the first boot, and QEMU's
    // resident memory grew from 0.6 to 1.5 GiB: the cache grows into memory the host has to fault
    // in. With 256 MiB (flushed when full, its memory reused): reboots 18-23 s, QEMU 0.5-0.7 GiB.
    '-name', path.basename(dir), '-accel', `tcg,thread=multi,tb-size=${TB_CACHE_MB}`, '-cpu', 'max', '-smp', '2', '-m', String(mem),
    '-nodefaults', '-no-user-config', '-display', 'none',
    '-kernel', kernel, '-initrd', initrd,
    '-append', 'root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=-1 quiet',
    // snapshot=on: the guest's writes go to a temporary overlay, the (cached) image never changes.
    '-drive', `file=${disk},if=virtio,format=raw${persistent ? '' : ',snapshot=on'}`,
    '-serial', `file:${p('console.log')}`,
    '-device', 'virtio-serial-pci,id=vser0',
    '-chardev', `socket,id=agent,path=${p('agent.sock')},server=on,wait=off`,
    '-device', `virtserialport,bus=vser0.0,chardev=agent,name=${agentPort}`,
    '-chardev', `socket,id=shell,path=${p('shell.sock')},server=on,wait=off`,
    '-device', `virtserialport,bus=vser0.0,chardev=shell,name=${SHELL_PORT}`,
    '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0',
    // The monitor, as a hypervisor has it: pause and resume the guest (stop, cont).
    '-qmp', `unix:${p('qmp.sock')},server=on,wait=off`,
  ];
}

export async function startVm(opts: VmOptions = {}): Promise<Vm> {
  requireHost('vm', ['qemu-system-x86_64', 'mkfs.ext4', 'debugfs']);
  const agentPort = opts.agentPort ?? 'org.qemu.guest_agent.0';
  if (!/^[A-Za-z0-9._-]+$/.test(agentPort) || agentPort === SHELL_PORT) throw new Error(`e2e: bad agentPort ${JSON.stringify(agentPort)}`);
  const tree = opts.tree ?? await ensureTree('vm');
  const { kernel, initrd } = kernelOf(tree);
  const dir = claimRunDir('vm');
  const forgetDir = onExit(() => removeTree(dir));
  const consoleLog = path.join(dir, 'console.log');
  let consoleText = '';
  const readConsole = () => { try { consoleText = fs.readFileSync(consoleLog, 'utf8'); } catch { /* removed by stop */ } return consoleText; };

  let disk: string;
  try {
    disk = opts.disk && fs.existsSync(opts.disk) ? opts.disk : await diskImage(tree, dir, opts.inject ?? []);
    if (opts.disk && disk !== opts.disk) {
      // A copy the test owns: the cached base image must never be written.
      await mustRun('cp', ['--sparse=always', '--reflink=auto', disk, `${opts.disk}.new`]);
      fs.renameSync(`${opts.disk}.new`, opts.disk);
      disk = opts.disk;
    }
  } catch (e) { removeTree(dir); forgetDir(); throw e; }
  const errFd = fs.openSync(path.join(dir, 'qemu.err'), 'w');
  const t0 = Date.now();
  // TMPDIR: QEMU puts the snapshot overlay there, so it goes away with the run directory.
  const proc = spawn('qemu-system-x86_64', [...qemuArgs(dir, disk, !!opts.disk, kernel, initrd, opts.memMb ?? 512, agentPort), ...(opts.extraArgs ?? [])],
    { detached: true, stdio: ['ignore', 'ignore', errFd], env: { ...process.env, TMPDIR: dir } });
  fs.closeSync(errFd);
  recordProcess(dir, proc.pid!);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    proc.once('exit', () => { exited = true; resolve(); });
    proc.once('error', () => { exited = true; resolve(); });
  });
  // Only until QEMU has been reaped: afterwards its pid may belong to anyone.
  const kill = () => { if (!exited) try { process.kill(proc.pid!, 'SIGKILL'); } catch { /* gone */ } };
  const forget = onExit(kill);
  const shell = serialShell(path.join(dir, 'shell.sock'));
  const bootTimeout = opts.bootTimeoutMs ?? 180_000;

  // Resolves when the guest's test shell answers; rejects early when QEMU dies.
  const waitShell = async (timeoutMs: number) => {
    const end = Date.now() + timeoutMs;
    while (!fs.existsSync(path.join(dir, 'shell.sock')) && !exited && Date.now() < end) await sleep(20);
    // One long request: QEMU holds the bytes until the guest opens its port, so none pile up.
    const dead = exit.then(() => { throw new Error('QEMU exited'); });
    // Once the shell has answered, a later exit must not become an unhandled rejection.
    dead.catch(() => undefined);
    const r = await Promise.race([shell('echo ready', Math.max(1, end - Date.now())), dead]);
    if (r.out.trim() !== 'ready') throw new Error(`unexpected answer ${JSON.stringify(r.out)}`);
  };
  const fail = async (what: string, e: unknown): Promise<never> => {
    kill();
    await exit;
    const err = (() => { try { return fs.readFileSync(path.join(dir, 'qemu.err'), 'utf8'); } catch { return ''; } })();
    const text = readConsole();
    forget();
    removeTree(dir);
    forgetDir();
    throw Object.assign(new Error(`e2e: vm ${what}: ${(e as Error).message}\n--- qemu stderr ---\n${err.slice(-2000)}\n--- console ---\n${text.slice(-3000)}`), { cause: e });
  };

  try { await waitShell(bootTimeout); } catch (e) { return fail('boot', e); }
  note(`vm ${path.basename(dir)}: test shell ready ${since(t0)} after QEMU start`);

  // The old shell may still read a request during shutdown and die without answering, so the new
  // boot's banner (e2e-shell writes it to the console) comes first, then its shell.
  const newBoot = async (before: string, seen: number, t1: number): Promise<void> => {
    const banner = /e2e-shell: boot ([0-9a-f-]{36})/g;
    const end = Date.now() + bootTimeout;
    while (![...readConsole().slice(seen).matchAll(banner)].some((m) => m[1] !== before)) {
      if (exited || Date.now() > end) return fail('reboot', new Error(exited ? 'QEMU exited' : `no new boot after ${bootTimeout} ms`));
      await sleep(200);
    }
    const started = since(t1);
    try { await waitShell(bootTimeout); } catch (e) { return fail('reboot', e); }
    note(`vm ${path.basename(dir)}: rebooted in ${since(t1)} (the new boot's shell started after ${started})`);
  };
  let stopping: Promise<void> | null = null;
  /** Once only: QUIT makes QEMU exit; then the console is kept and the run directory removed. */
  const end = (quit: () => Promise<void>): Promise<void> => stopping ??= (async () => {
    await quit();
    await exit;
    readConsole();
    forget();
    removeTree(dir);
    forgetDir();
  })();
  const vm: Vm = {
    agentSock: path.join(dir, 'agent.sock'), dir, pid: proc.pid!,
    shell: (script, timeoutMs = 60_000) => (exited ? Promise.reject(new Error('e2e: the VM is not running')) : shell(script, timeoutMs)),
    console: readConsole,
    monitor: (execute, args) => (exited ? Promise.reject(new Error('e2e: the VM is not running')) : qmp(path.join(dir, 'qmp.sock'), execute, args)),
    async reboot() {
      const t1 = Date.now();
      const before = (await shell('cat /proc/sys/kernel/random/boot_id', 30_000)).out.trim();
      const seen = readConsole().length;
      // Straight to PID 1: `systemctl reboot` goes through logind and, early in a boot, first
      // waits for dbus and logind to start (10-15 s under TCG).
      await shell('(sleep 0.5; systemctl start reboot.target --job-mode=replace-irreversibly) >/dev/null 2>&1 &', 30_000);
      await newBoot(before, seen, t1);
    },
    awaitReboot: (before) => newBoot(before, 0, Date.now()),
    kill: () => end(async () => kill()),
    stop: () => end(async () => {
      if (!exited) try { process.kill(proc.pid!, 'SIGTERM'); } catch { /* gone */ }
      if (!(await Promise.race([exit.then(() => true), sleep(5000).then(() => false)]))) kill();
    }),
  };
  return vm;
}

// Debian's libvirtd, started for one test in a private mount namespace: its configuration, state,
// logs and capability cache are directories of the run directory mounted over /etc/libvirt,
// /run/libvirt, /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt (with a tmpfs on /run
// first, so nothing is created on the host), and its socket is in the run directory. So it needs
// no systemd (this host's PID 1 is not), and nothing depends on another libvirtd on the machine.
// virsh runs outside the namespace and reaches the daemon through that socket.

import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { claimRunDir, killRecorded, onExit, recordProcess } from './cleanup';
import { note, removeTree, requireHost, run, since } from './host';

export interface VirshResult {
  code: number;
  /** stdout and stderr, trimmed. */
  out: string;
  err: string;
  ms: number;
}

export interface Libvirtd {
  /** The connection URI: qemu:///system through this daemon's socket. */
  uri: string;
  /** The run directory: sockets, libvirtd.log, log/qemu/DOMAIN.log, run/qemu/DOMAIN.pid. */
  dir: string;
  pid: number;
  /** Runs virsh against this daemon; rejects only when virsh itself did not return within timeoutMs (default 120 s). */
  virsh(args: string[], timeoutMs?: number): Promise<VirshResult>;
  /** Notes a process to be killed at exit and by a later sweep (a domain's QEMU). */
  own(pid: number): void;
  /** The daemon's log so far. */
  log(): string;
  /** Kills what it started (QEMU first) and the daemon, and removes the run directory. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MOUNTS: Array<[string, string]> = [
  ['run', '/run/libvirt'], ['etc', '/etc/libvirt'], ['lib', '/var/lib/libvirt'], ['log', '/var/log/libvirt'], ['cache', '/var/cache/libvirt'],
];

function configure(dir: string): void {
  for (const [d] of MOUNTS) fs.mkdirSync(path.join(dir, d), { mode: 0o700 });
  // Only this socket, root only, no TCP; the agent and QEMU modules log at debug level.
  fs.writeFileSync(path.join(dir, 'etc/libvirtd.conf'), [
    `unix_sock_dir = "${dir}"`, 'unix_sock_rw_perms = "0700"', 'unix_sock_ro_perms = "0700"', 'unix_sock_admin_perms = "0700"',
    'auth_unix_rw = "none"', 'auth_unix_ro = "none"',
    'log_level = 3', `log_outputs = "1:file:${dir}/libvirtd.log"`, 'log_filters = "1:qemu.qemu_agent"', '',
  ].join('\n'));
  // QEMU as root without a security label, cgroup or /dev namespace (none of which this host has
  // set up for libvirt); its stdout to a file instead of virtlogd, which nothing started.
  fs.writeFileSync(path.join(dir, 'etc/qemu.conf'), [
    'user = "root"', 'group = "root"', 'dynamic_ownership = 0', 'remember_owner = 0', 'security_driver = "none"',
    'stdio_handler = "file"', 'namespaces = [ ]', 'cgroup_controllers = [ ]', '',
  ].join('\n'));
}

function namespaceScript(dir: string): string {
  return [
    'set -e', 'mount --make-rprivate /', 'mount -t tmpfs -o mode=0755 tmpfs /run', 'mkdir /run/libvirt',
    ...MOUNTS.map(([d, target]) => `mount --bind ${dir}/${d} ${target}`),
    `exec libvirtd -f /etc/libvirt/libvirtd.conf -p ${dir}/libvirtd.pid`,
  ].join('\n');
}

export async function startLibvirtd(): Promise<Libvirtd> {
  requireHost('libvirt', ['libvirtd', 'virsh', 'unshare', 'qemu-system-x86_64']);
  const t0 = Date.now();
  const dir = claimRunDir('libvirtd');
  configure(dir);
  const outFd = fs.openSync(path.join(dir, 'libvirtd.out'), 'w');
  // unshare and sh exec into libvirtd: one pid from start to end.
  const proc = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', namespaceScript(dir)],
    { detached: true, stdio: ['ignore', outFd, outFd] });
  fs.closeSync(outFd);
  let exited = false;
  const exit = new Promise<void>((resolve) => { proc.once('exit', () => { exited = true; resolve(); }); proc.once('error', () => { exited = true; resolve(); }); });
  recordProcess(dir, proc.pid!);
  // Whatever it started, then the daemon: synchronous, also when the test dies on a signal.
  const forget = onExit(() => { killRecorded(dir); removeTree(dir); });
  const uri = `qemu:///system?socket=${dir}/libvirt-sock`;
  const read = (f: string) => { try { return fs.readFileSync(path.join(dir, f), 'utf8'); } catch { return ''; } };

  const virsh = async (args: string[], timeoutMs = 120_000): Promise<VirshResult> => {
    const t = Date.now();
    const r = await run('virsh', ['-q', '-c', uri, ...args], { timeoutMs });
    return { code: r.code, out: r.stdout.trim(), err: r.stderr.trim(), ms: Date.now() - t };
  };
  const lv: Libvirtd = {
    uri, dir, pid: proc.pid!, virsh,
    own: (pid) => recordProcess(dir, pid),
    log: () => read('libvirtd.log'),
    async stop() {
      killRecorded(dir);
      await Promise.race([exit, sleep(5000)]);
      removeTree(dir);
      forget();
    },
  };
  // The first connection waits for the QEMU capability probe (~7 s here).
  for (;;) {
    if (exited) { const out = read('libvirtd.out'); await lv.stop(); throw new Error(`e2e: libvirtd exited at start: ${out}`); }
    if (fs.existsSync(path.join(dir, 'libvirt-sock')) && (await virsh(['version'], 60_000)).code === 0) break;
    if (Date.now() - t0 > 60_000) { const log = lv.log(); await lv.stop(); throw new Error(`e2e: libvirtd not ready after 60 s: ${log.slice(-2000)}`); }
    await sleep(100);
  }
  note(`libvirtd ${path.basename(dir)}: ready in ${since(t0)}`);
  return lv;
}

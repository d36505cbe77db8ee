// The host side of the e2e infrastructure: where caches live, prerequisite checks, running host
// commands, and removing run directories without ever descending into a mount.

import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/** Cached trees, tarballs and disk images; PHOENIX_GA_E2E_CACHE overrides it (e.g. a cold-cache run). */
export const CACHE_DIR = process.env.PHOENIX_GA_E2E_CACHE || '/var/tmp/phoenix-ga-e2e';
/** One directory per prepared root or VM, removed by its cleanup. */
export const RUN_DIR = path.join(CACHE_DIR, 'run');
// Tests run bundled from .test-out/ (test/run.mjs); the sources stay beside the project root.
const ROOT = __dirname.includes(`${path.sep}.test-out`) ? __dirname.split(`${path.sep}.test-out`)[0] : path.join(__dirname, '../../..');
export const LIB_DIR = path.join(ROOT, 'test/e2e/lib');

const PACKAGE_OF: Record<string, string> = {
  debootstrap: 'debootstrap',
  'systemd-nspawn': 'systemd-container',
  nsenter: 'util-linux',
  unshare: 'util-linux',
  libvirtd: 'libvirt-daemon-system',
  virsh: 'libvirt-clients',
  flock: 'util-linux',
  'qemu-system-x86_64': 'qemu-system-x86',
  'mkfs.ext4': 'e2fsprogs',
  debugfs: 'e2fsprogs',
  zstd: 'zstd',
  tar: 'tar',
};

/** Throws, naming the missing piece and its Debian package, instead of letting a test skip. */
export function requireHost(what: string, commands: string[]): void {
  if (process.getuid?.() !== 0) throw new Error(`e2e ${what}: must run as root (mounts, namespaces, debootstrap); run the tests with sudo`);
  const dirs = (process.env.PATH || '/usr/bin:/bin').split(':').concat(['/usr/sbin', '/sbin']);
  const missing = commands.filter((c) => !dirs.some((d) => fs.existsSync(path.join(d, c))));
  if (missing.length) {
    const pkgs = [...new Set(missing.map((c) => PACKAGE_OF[c] || c))].join(' ');
    throw new Error(`e2e ${what}: missing ${missing.join(', ')}; install with: apt-get install --no-install-recommends ${pkgs} (.ci/run does this)`);
  }
}

export function note(msg: string): void {
  process.stderr.write(`[e2e] ${msg}\n`);
}

export function since(t0: number): string {
  return `${((Date.now() - t0) / 1000).toFixed(1)} s`;
}

export interface RunResult { code: number; stdout: string; stderr: string }

/** Runs a host command to completion; on timeout its whole process group is killed and it rejects. */
export function run(file: string, args: string[], opts: { timeoutMs?: number; stderrTo?: 'inherit' } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', opts.stderrTo === 'inherit' ? 'inherit' : 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr?.on('data', (d) => { stderr += d; });
    let timedOut = false;
    const timer = opts.timeoutMs
      ? setTimeout(() => { timedOut = true; try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ } }, opts.timeoutMs)
      : undefined;
    child.on('error', (e) => reject(Object.assign(new Error(`e2e: cannot run ${file}: ${e.message}`), { cause: e })));
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (timedOut) reject(new Error(`e2e: ${file} ${args.join(' ')} timed out after ${opts.timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
      else if (signal) reject(new Error(`e2e: ${file} ${args.join(' ')} was killed by ${signal} (not by this test); stderr: ${stderr.slice(-2000)}`));
      else resolve({ code: code ?? 128, stdout, stderr });
    });
  });
}

/** Like run, but a non-zero exit is an error carrying the command's stderr. */
export async function mustRun(file: string, args: string[], opts: { timeoutMs?: number; stderrTo?: 'inherit' } = {}): Promise<string> {
  const r = await run(file, args, opts);
  if (r.code !== 0) throw new Error(`e2e: ${file} ${args.join(' ')} exited with ${r.code}: ${r.stderr.slice(-2000) || r.stdout.slice(-2000)}`);
  return r.stdout;
}

/** Mount points at or below dir, deepest first (so they can be unmounted in that order). */
export function mountsUnder(dir: string): string[] {
  const prefix = path.resolve(dir);
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m)
    .map((m) => m.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === prefix || m.startsWith(`${prefix}/`))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts everything below dir, then deletes it; refuses (throws) while a mount remains. */
export function removeTree(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const m of mountsUnder(dir)) spawnSyncQuiet('umount', ['-l', m]);
  const left = mountsUnder(dir);
  if (left.length) throw new Error(`e2e: not removing ${dir}: still mounted: ${left.join(', ')}`);
  // --one-file-system: a bind mount that appeared meanwhile is skipped, not emptied.
  spawnSyncQuiet('rm', ['-rf', '--one-file-system', dir]);
}

function spawnSyncQuiet(file: string, args: string[]): void {
  spawnSync(file, args, { stdio: 'ignore' });
}

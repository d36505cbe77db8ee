// Helpers the benchmark scripts share: agents on unix sockets (phoenix-ga on a chosen Node
// runtime, Debian's qemu-ga), a line client, per-thread CPU and wake-ups, anon memory, and a
// statistics history written into a run directory as a worker of this boot would have left it.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const arg = (n, d) => { const i = process.argv.indexOf(`--${n}`); return i > 0 ? process.argv[i + 1] : d; };
export const QEMU_GA = ['/usr/sbin/qemu-ga', '/usr/bin/qemu-ga'].find((p) => existsSync(p));
/** The runtime phoenix-ga runs on (--node PATH; default this one). */
export const NODE = arg('node', process.execPath);
export const env = { ...process.env };
delete env.NODE_OPTIONS;
delete env.NODE_EXTRA_CA_CERTS;
/**
 * What the launcher (/usr/sbin/phoenix-ga, init/phoenix-ga.sh) gives the supervisor on a server
 * besides PATH and LANG: its malloc settings, read from the launcher's exec line.
 */
export const launcherEnv = Object.fromEntries(
  /^exec \/usr\/bin\/env -i (.*)$/m.exec(readFileSync(join(root, 'init/phoenix-ga.sh'), 'utf8'))[1].split(' ')
    .filter((t) => /^MALLOC_[A-Z_]+=\w+$/.test(t)).map((t) => t.split('=')),
);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const now = () => Number(process.hrtime.bigint()) / 1e6;
export const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN; };
export const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };
export const pssAnon = (pid) => { try { return Number(/^Pss_Anon:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))[1]); } catch { return NaN; } };
export const workerPid = (dir) => { try { return JSON.parse(readFileSync(`${dir}/run/state.json`, 'utf8')).worker.pid; } catch { return null; } };
export const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** CPU ms on a CPU (schedstat) and voluntary context switches (times it went to sleep) of every thread of PID. */
export function threads(pid) {
  let cpuMs = 0, wakeups = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      cpuMs += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
      wakeups += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8'))[1]);
    } catch { /* thread ended */ }
  }
  return { cpuMs, wakeups };
}

export class Client {
  static open(path) {
    return new Promise((res, rej) => { const s = connect(path); s.once('connect', () => res(new Client(s))); s.once('error', rej); });
  }
  constructor(s) { this.s = s; this.buf = ''; this.waiters = []; s.on('data', (d) => this.onData(d)); s.on('error', () => {}); }
  onData(d) {
    this.buf += d.toString('latin1');
    let i;
    while ((i = this.buf.indexOf('\n')) >= 0) { const line = this.buf.slice(0, i); this.buf = this.buf.slice(i + 1); this.waiters.shift()?.(line); }
  }
  line() { return new Promise((r) => this.waiters.push(r)); }
  req(text) { const p = this.line(); this.s.write(text); return p; }
  close() { this.s.destroy(); }
}

export async function connectRetry(path, deadlineMs = 15_000) {
  const end = now() + deadlineMs;
  for (;;) {
    try { return await Client.open(path); } catch { if (now() > end) throw new Error(`cannot connect ${path}`); await sleep(1); }
  }
}

/**
 * The state directory of this benchmark process's agents, where the worker keeps its code cache.
 * With the default /var/lib/phoenix-ga, another build started meanwhile (an A/B, another
 * checkout's bench) replaces the cache, and the next start here compiles from source.
 */
let stateDir = null;
export const benchStateDir = () => (stateDir ??= mkdtempSync(join(tmpdir(), 'bench-state-')));

export function startPhoenix(dir, extra = [], node = NODE) {
  const state = extra.includes('--state-dir') ? [] : ['--state-dir', benchStateDir()];
  return spawn(node, [join(root, 'dist/supervisor.js'), '--channel', `unix:${dir}/a.sock`, '--run-dir', `${dir}/run`, '--log-file', `${dir}/log`, ...state, ...extra], { stdio: 'ignore', env: { ...env, ...launcherEnv } });
}

/** The worker's runtime options (its heap cap among them), set by warmCodeCache. */
export let workerFlags = null;
/** The loader's source that the supervisor gives a worker with those options, set by warmCodeCache. */
export let workerLoader = null;

/**
 * One start on NODE that leaves the worker's code cache in the bench's state directory, as every
 * start after the first one on a server finds it. Throws when no cache appears within 20 s.
 */
export async function warmCodeCache(node = NODE) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-warm-'));
  const p = startPhoenix(dir, [], node);
  const c = await connectRetry(`${dir}/a.sock`);
  await c.req('{"execute":"guest-ping"}');
  c.close();
  // The runtime options the supervisor gives its worker on NODE (its cmdline holds its title now).
  const { workerExecArgs, workerV8Flags, defaultSettings, codeCacheLoaderSource, loaderChannel } = await agentLib();
  const v8Version = spawnSync(node, ['-p', 'process.versions.v8'], { encoding: 'utf8' }).stdout.trim();
  workerFlags = [...workerExecArgs(defaultSettings().workerHeapMb), ...workerV8Flags(node, node, v8Version)];
  workerLoader = codeCacheLoaderSource(loaderChannel(workerFlags, 3)); // 'ipc' the fourth of its stdio, as in core.mjs
  const end = now() + 20_000;
  while (!readdirSync(benchStateDir()).some((f) => f.endsWith('.v8-cache'))) {
    if (now() > end) throw new Error(`no code cache in ${benchStateDir()} 20 s after a start`);
    await sleep(100);
  }
  await stop(p);
}
export function startQemuGa(dir) {
  return spawn(QEMU_GA, ['-m', 'unix-listen', '-p', `${dir}/a.sock`, '-t', dir, '-f', `${dir}/pid`, '-l', `${dir}/log`], { stdio: 'ignore' });
}

/** SIGTERM, then SIGKILL after 5 s (Debian's qemu-ga 7.2 sometimes never exits on SIGTERM). */
export async function stop(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return false;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  let hung = false;
  const t = setTimeout(() => { hung = true; proc.kill('SIGKILL'); }, 5000);
  await exited;
  clearTimeout(t);
  return hung;
}

let agentLibLoaded = null;
/** The agent's own history code and the supervisor's worker options, bundled on first use. */
async function agentLib() {
  if (agentLibLoaded) return agentLibLoaded;
  const esbuild = await import('esbuild');
  const out = join(tmpdir(), `phoenix-ga-bench-history-${process.pid}.cjs`);
  await esbuild.build({
    stdin: { contents: "export { createHistory } from './agent/stats/history'; export { readCounters } from './agent/stats/counters'; export { computeSample } from './agent/stats/sample'; export { createHost } from './agent/os/host'; export { loaderChannel, workerExecArgs, workerV8Flags } from './supervisor/worker'; export { codeCacheLoaderSource } from './supervisor/code-cache'; export { defaultSettings } from './supervisor/settings';", resolveDir: root, loader: 'ts' },
    bundle: true, platform: 'node', format: 'cjs', outfile: out, logLevel: 'warning',
  });
  agentLibLoaded = (await import(out)).default;
  return agentLibLoaded;
}

/**
 * A run directory whose history holds N samples of this machine (a minute apart, this boot), with
 * the capacity set to CAPACITY: what a worker that ran N minutes leaves behind.
 */
export async function fillHistory(runDir, n, capacity = Math.max(n, 720)) {
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  if (capacity !== 720) writeFileSync(join(runDir, 'stats-config.json'), JSON.stringify({ intervalMs: 60_000, capacity }), { mode: 0o600 });
  if (!n) return;
  const { createHistory, readCounters, computeSample, createHost } = await agentLib();
  const host = createHost('/');
  const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const a = await readCounters(host, () => 0);
  const b = await readCounters(host, () => 60_000);
  const h = createHistory({ dir: runDir, boot, capacity, onError: (e) => { throw e; } });
  const t0 = Date.now() - n * 60_000;
  for (let seq = 1; seq <= n; seq++) h.push(computeSample(a, b, seq, t0 + seq * 60_000));
}

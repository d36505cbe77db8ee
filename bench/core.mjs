// Core figures of DESIGN section 7, phoenix-ga beside Debian's qemu-ga in the same run:
// idle anon memory (Pss_Anon), guest-ping p50/p99 and pipelined throughput, start -> first reply
// and first heartbeat, worker kill -9 -> serving again. Medians of --runs runs.
// Usage: npm run build && node bench/core.mjs [--runs 5] [--kills 30] [--settle 10] [--json FILE]

import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (n, d) => { const i = process.argv.indexOf(`--${n}`); return i > 0 ? process.argv[i + 1] : d; };
const RUNS = Number(arg('runs', 5));
const KILLS = Number(arg('kills', 30));
const SETTLE_S = Number(arg('settle', 10));
const QEMU_GA = ['/usr/sbin/qemu-ga', '/usr/bin/qemu-ga'].find((p) => existsSync(p));
const env = { ...process.env };
delete env.NODE_OPTIONS;
delete env.NODE_EXTRA_CA_CERTS;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN; };
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };
const pssAnon = (pid) => Number(/^Pss_Anon:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))[1]);

class Client {
  static open(path) {
    return new Promise((res, rej) => { const s = connect(path); s.once('connect', () => res(new Client(s))); s.once('error', rej); });
  }
  constructor(s) { this.s = s; this.buf = ''; this.waiters = []; s.setNoDelay?.(true); s.on('data', (d) => this.onData(d)); s.on('error', () => {}); }
  onData(d) {
    this.buf += d.toString('latin1');
    let i;
    while ((i = this.buf.indexOf('\n')) >= 0) { const line = this.buf.slice(0, i); this.buf = this.buf.slice(i + 1); this.waiters.shift()?.(line); }
  }
  line() { return new Promise((r) => this.waiters.push(r)); }
  async req(text) { const p = this.line(); this.s.write(text); return p; }
  close() { this.s.destroy(); }
}

async function connectRetry(path, deadlineMs = 10_000) {
  const end = now() + deadlineMs;
  for (;;) {
    try { return await Client.open(path); } catch { if (now() > end) throw new Error(`cannot connect ${path}`); await sleep(1); }
  }
}

function startPhoenix(dir, extra = []) {
  return spawn(process.execPath, [join(root, 'dist/supervisor.js'), '--channel', `unix:${dir}/a.sock`, '--run-dir', `${dir}/run`, '--log-file', `${dir}/log`, ...extra], { stdio: 'ignore', env });
}
function startQemuGa(dir) {
  return spawn(QEMU_GA, ['-m', 'unix-listen', '-p', `${dir}/a.sock`, '-t', dir, '-f', `${dir}/pid`, '-l', `${dir}/log`], { stdio: 'ignore' });
}
const workerPid = (dir) => { try { return JSON.parse(readFileSync(`${dir}/run/state.json`, 'utf8')).worker.pid; } catch { return null; } };

async function latency(c) {
  const PING = '{"execute":"guest-ping"}';
  for (let i = 0; i < 2000; i++) await c.req(PING);
  const lat = [];
  for (let i = 0; i < 10_000; i++) { const t = now(); await c.req(PING); lat.push((now() - t) * 1000); }
  const N = 20_000, inflight = 64;
  let sent = 0, got = 0;
  const t0 = now();
  await new Promise((resolve) => {
    c.waiters = [];
    const onLine = () => { got++; if (got === N) resolve(); else if (sent < N) { sent++; c.waiters.push(onLine); c.s.write(PING); } };
    for (; sent < inflight; sent++) { c.waiters.push(onLine); c.s.write(PING); }
  });
  return { p50: pct(lat, 0.5), p99: pct(lat, 0.99), rps: N / ((now() - t0) / 1000) };
}

async function measureAgent(kind) {
  const dir = mkdtempSync(join(tmpdir(), `bench-${kind}-`));
  const t0 = now();
  const proc = kind === 'qemu-ga' ? startQemuGa(dir) : startPhoenix(dir);
  const c = await connectRetry(`${dir}/a.sock`);
  await c.req('{"execute":"guest-ping"}');
  const firstReply = now() - t0;
  await sleep(SETTLE_S * 1000);
  const mem = { sup: pssAnon(proc.pid) };
  if (kind === 'phoenix-ga') mem.worker = pssAnon(workerPid(dir));
  const l = await latency(c);
  c.close();
  proc.kill('SIGTERM');
  await new Promise((r) => proc.on('exit', r));
  return { firstReply, ...mem, ...l };
}

async function firstHeartbeat() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-hb-'));
  writeFileSync(`${dir}/k`, randomBytes(32).toString('hex'), { mode: 0o600 });
  const sock = createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const got = new Promise((r) => sock.once('message', () => r(now())));
  const t0 = now();
  const proc = startPhoenix(dir, ['--heartbeat', `127.0.0.1:${sock.address().port}`, '--heartbeat-key', `${dir}/k`]);
  const at = await got;
  proc.kill('SIGTERM');
  sock.close();
  await new Promise((r) => proc.on('exit', r));
  return at - t0;
}

async function killToServing() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-kill-'));
  const proc = startPhoenix(dir);
  const sock = `${dir}/a.sock`;
  (await connectRetry(sock)).close();
  const out = [];
  for (let i = 0; i < KILLS; i++) {
    let pid;
    while (!(pid = workerPid(dir))) await sleep(5);
    const c = await connectRetry(sock);
    await c.req('{"execute":"guest-ping"}');
    await sleep(700); // beyond the 500 ms spawn floor
    const t0 = now();
    process.kill(pid, 'SIGKILL');
    await new Promise((r) => c.s.once('close', r));
    // Serving again = a fresh connection answers guest-sync (it waits in the supervisor meanwhile).
    const c2 = await connectRetry(sock);
    await c2.req('{"execute":"guest-sync","arguments":{"id":1}}');
    out.push(now() - t0);
    c2.close();
  }
  proc.kill('SIGTERM');
  await new Promise((r) => proc.on('exit', r));
  return out;
}

const results = { phoenix: [], qemu: [], heartbeat: [], kills: [] };
for (let r = 0; r < RUNS; r++) {
  results.phoenix.push(await measureAgent('phoenix-ga'));
  if (QEMU_GA) results.qemu.push(await measureAgent('qemu-ga'));
  results.heartbeat.push(await firstHeartbeat());
  process.stderr.write(`run ${r + 1}/${RUNS} done\n`);
}
results.kills = await killToServing();

const m = (list, k) => median(list.map((x) => x[k]));
const P = results.phoenix, Q = results.qemu;
const rows = [
  ['anon memory, supervisor idle (MiB)', m(P, 'sup') / 1024, '<= 6.5', Q.length ? m(Q, 'sup') / 1024 : NaN, (v) => v <= 6.5],
  ['anon memory, worker idle (MiB)', m(P, 'worker') / 1024, '<= 9', NaN, (v) => v <= 9],
  ['anon memory, pair idle (MiB)', (m(P, 'sup') + m(P, 'worker')) / 1024, '<= 16', Q.length ? m(Q, 'sup') / 1024 : NaN, (v) => v <= 16],
  ['guest-ping p50 (us)', m(P, 'p50'), "<= qemu-ga's", m(Q, 'p50'), (v, q) => !(v > q)],
  ['guest-ping p99 (us)', m(P, 'p99'), '<= 1000', m(Q, 'p99'), (v) => v <= 1000],
  ['pipelined guest-ping (req/s)', m(P, 'rps'), ">= 2x qemu-ga's", m(Q, 'rps'), (v, q) => !(v < 2 * q)],
  ['start -> first reply (ms)', m(P, 'firstReply'), '<= 120', m(Q, 'firstReply'), (v) => v <= 120],
  ['start -> first heartbeat (ms)', median(results.heartbeat), '<= 80', NaN, (v) => v <= 80],
  ['worker kill -9 -> serving p50 (ms)', pct(results.kills, 0.5), '<= 100', NaN, (v) => v <= 100],
  ['worker kill -9 -> serving p99 (ms)', pct(results.kills, 0.99), '<= 250', NaN, (v) => v <= 250],
];
const f = (v) => (Number.isNaN(v) ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(2));
console.log(`\nphoenix-ga vs ${QEMU_GA ? spawnSync(QEMU_GA, ['--version'], { encoding: 'utf8' }).stdout.trim() : 'qemu-ga (not installed)'}, node ${process.version}, medians of ${RUNS} runs, ${KILLS} kills`);
console.log('| figure | phoenix-ga | target | qemu-ga | ratio | |\n|---|---:|---|---:|---:|---|');
for (const [name, v, target, q, ok] of rows) {
  console.log(`| ${name} | ${f(v)} | ${target} | ${f(q)} | ${Number.isNaN(q) ? '-' : (v / q).toFixed(2)} | ${ok(v, q) ? 'ok' : 'MISS'} |`);
}
const jsonFile = arg('json');
if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ rows: rows.map(([name, v, target, q]) => ({ name, phoenix: v, target, qemu: q })), raw: results }, null, 1));

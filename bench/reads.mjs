// Read commands and statistics: reply time of each qemu-ga read command on phoenix-ga and on
// Debian's qemu-ga in the same run (p50/p99 of --calls calls after a warm-up), the CPU time and
// processes of one statistics sample, and the worker's anon memory with a full history.
// Usage: npm run build && node bench/reads.mjs [--calls 200] [--history 1440] [--json FILE]

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (n, d) => { const i = process.argv.indexOf(`--${n}`); return i > 0 ? process.argv[i + 1] : d; };
const CALLS = Number(arg('calls', 200));
const HISTORY = Number(arg('history', 1440));
const QEMU_GA = ['/usr/sbin/qemu-ga', '/usr/bin/qemu-ga'].find((p) => existsSync(p));
const env = { ...process.env };
delete env.NODE_OPTIONS;
delete env.NODE_EXTRA_CA_CERTS;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };
const pssAnon = (pid) => Number(/^Pss_Anon:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))[1]);

async function client(path) {
  for (let i = 0; ; i++) {
    try {
      const s = await new Promise((res, rej) => { const c = connect(path); c.once('connect', () => res(c)); c.once('error', rej); });
      let buf = '';
      const waiters = [];
      s.on('data', (d) => { buf += d.toString('latin1'); let k; while ((k = buf.indexOf('\n')) >= 0) { const l = buf.slice(0, k); buf = buf.slice(k + 1); waiters.shift()?.(l); } });
      return { req: (t) => new Promise((r) => { waiters.push(r); s.write(t); }), close: () => s.destroy() };
    } catch { if (i > 5000) throw new Error('no socket'); await sleep(2); }
  }
}

const COMMANDS = ['guest-info', 'guest-get-osinfo', 'guest-get-host-name', 'guest-get-timezone', 'guest-get-vcpus', 'guest-get-users',
  'guest-get-cpustats', 'guest-get-diskstats', 'guest-get-fsinfo', 'guest-network-get-interfaces', 'guest-get-load', 'guest-network-get-route', 'phoenix-get-stats'];

async function timeAll(c) {
  const out = {};
  for (const cmd of COMMANDS) {
    const text = `{"execute":"${cmd}"}`;
    const first = await c.req(text);
    if (first.includes('"error"')) { out[cmd] = null; continue; }
    for (let i = 0; i < 10; i++) await c.req(text);
    const lat = [];
    for (let i = 0; i < CALLS; i++) { const t = now(); await c.req(text); lat.push((now() - t) * 1000); }
    out[cmd] = { p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'bench-reads-'));
const sup = spawn(process.execPath, [join(root, 'dist/supervisor.js'), '--channel', `unix:${dir}/a.sock`, '--run-dir', `${dir}/run`, '--log-file', `${dir}/log`, '--heartbeat-interval', '10'], { stdio: 'ignore', env });
const p = await client(`${dir}/a.sock`);
await p.req('{"execute":"phoenix-set-stats","arguments":{"interval":1}}');
await sleep(8000);
const ours = await timeAll(p);
const statsReply = JSON.parse(await p.req('{"execute":"phoenix-get-stats"}')).return;
const costs = statsReply.samples.length ? statsReply.cost : null;
// The cost over several samples: ask repeatedly over 10 s.
const cpu = [];
for (let i = 0; i < 10; i++) { await sleep(1000); const r = JSON.parse(await p.req('{"execute":"phoenix-get-stats","arguments":{"max":1}}')).return; if (r.cost) cpu.push(r.cost.cpuUs); }
const lastSample = statsReply.samples.at(-1);
p.close();
sup.kill('SIGTERM');
await new Promise((r) => sup.on('exit', r));

// A full history: HISTORY copies of a real sample in the history file, then a fresh agent.
const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const hdir = mkdtempSync(join(tmpdir(), 'bench-hist-'));
mkdirSync(`${hdir}/run`, { mode: 0o700 });
writeFileSync(`${hdir}/run/stats-config.json`, JSON.stringify({ intervalMs: 60000, capacity: HISTORY }));
const empty = mkdtempSync(join(tmpdir(), 'bench-hist0-'));
mkdirSync(`${empty}/run`, { mode: 0o700 });
writeFileSync(`${hdir}/run/stats.jsonl`, Array.from({ length: HISTORY }, (_, i) => JSON.stringify({ boot, sample: { ...lastSample, seq: i + 1 } }) + '\n').join(''));
const mem = {};
for (const [name, d] of [['empty history', empty], [`${HISTORY} samples`, hdir]]) {
  const s = spawn(process.execPath, [join(root, 'dist/supervisor.js'), '--channel', `unix:${d}/a.sock`, '--run-dir', `${d}/run`, '--log-file', `${d}/log`], { stdio: 'ignore', env });
  const c = await client(`${d}/a.sock`);
  await c.req('{"execute":"guest-ping"}');
  await sleep(12_000);
  const st = JSON.parse(readFileSync(`${d}/run/state.json`, 'utf8'));
  mem[name] = pssAnon(st.worker.pid);
  c.close();
  s.kill('SIGTERM');
  await new Promise((r) => s.on('exit', r));
}

let qemu = null;
if (QEMU_GA) {
  const qd = mkdtempSync(join(tmpdir(), 'bench-qga-'));
  const q = spawn(QEMU_GA, ['-m', 'unix-listen', '-p', `${qd}/a.sock`, '-t', qd, '-f', `${qd}/pid`, '-l', `${qd}/log`], { stdio: 'ignore' });
  const qc = await client(`${qd}/a.sock`);
  qemu = await timeAll(qc);
  qc.close();
  q.kill('SIGTERM');
  setTimeout(() => q.kill('SIGKILL'), 5000).unref(); // qemu-ga 7.2 sometimes hangs on SIGTERM (see core.mjs)
}

const f = (x) => (x === null || x === undefined ? '-' : x.toFixed(0));
console.log(`\nreply time (us), ${CALLS} calls each, phoenix-ga vs qemu-ga in the same run`);
console.log('| command | phoenix p50 | phoenix p99 | qemu-ga p50 | qemu-ga p99 | p50 ratio |\n|---|---:|---:|---:|---:|---:|');
for (const cmd of COMMANDS) {
  const a = ours[cmd], b = qemu?.[cmd];
  console.log(`| ${cmd} | ${f(a?.p50)} | ${f(a?.p99)} | ${f(b?.p50)} | ${f(b?.p99)} | ${a && b ? (a.p50 / b.p50).toFixed(2) : '-'} |`);
}
console.log(`\nstatistics sample: CPU per sample (us, median of ${cpu.length}): ${f(pct(cpu, 0.5))}; processes spawned: ${costs?.spawned ?? '-'}; sample size ${JSON.stringify(lastSample).length} bytes of JSON`);
console.log(`worker Pss_Anon (KiB): ${Object.entries(mem).map(([k, v]) => `${k} ${v}`).join(', ')}`);
const jsonFile = arg('json');
if (jsonFile) {
  writeFileSync(jsonFile, JSON.stringify({
    calls: CALLS, commands: Object.fromEntries(COMMANDS.map((c) => [c, { phoenix: ours[c] ?? null, qemu: qemu?.[c] ?? null }])),
    sample: { cpuUs: pct(cpu, 0.5), spawned: costs?.spawned ?? null, jsonBytes: JSON.stringify(lastSample).length }, workerAnonKiB: mem,
  }, null, 1));
}

// Heartbeat collector load: 10,000 simulated VMs (own keys, real datagrams from the project's
// encoder) plus 10 % forged and replayed datagrams, sent over loopback UDP by a second process;
// the collector (dist/phoenix-ga-receiver.js, one process, one core) verifies them. Reports
// verified heartbeats per second and the collector's memory per VM.
// Usage: npm run build && node bench/collector.mjs [--vms 10000] [--seconds 10] [--json FILE]

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (n, d) => { const i = process.argv.indexOf(`--${n}`); return i > 0 ? process.argv[i + 1] : d; };
const VMS = Number(arg('vms', 10000));
const SECONDS = Number(arg('seconds', 10));
const dir = mkdtempSync(join(tmpdir(), 'bench-collector-'));

if (process.argv[2] === 'sender') {
  // Child: pre-encodes beats for every VM and blasts them (seq increasing), 1 in 10 forged or replayed.
  const { encodeHeartbeat } = createRequire(import.meta.url)(process.argv[3]);
  const keys = JSON.parse(readFileSync(process.argv[4], 'utf8'));
  const port = Number(process.argv[5]);
  const seconds = Number(process.argv[6]);
  const dgram = await import('node:dgram');
  const sock = dgram.createSocket('udp4');
  const payload = (vm) => ({ boot: 'b', interval_ms: 10000, sup: { pid: 1, up_ms: 5, start_ms: 100, ver: '0.1.0', rss_kb: 40000, anon_kb: 6300 }, worker: { state: 'ready', pid: 2, gen: 1, progress_age_ms: 10, rss_kb: 40000, anon_kb: 6100 }, restarts: { total: 0, failures_10m: 0 }, last_exit: null, channel: { kind: 'serial', state: 'host-connected' }, vm });
  const seqs = new Map();
  const end = Date.now() + seconds * 1000;
  let sent = 0, bad = 0, i = 0;
  const ids = Object.keys(keys);
  let last = null;
  while (Date.now() < end) {
    const batch = [];
    for (let k = 0; k < 200; k++) {
      const vm = ids[i++ % ids.length];
      const seq = (seqs.get(vm) ?? 0n) + 1n;
      seqs.set(vm, seq);
      let d = encodeHeartbeat({ vmId: vm, keyId: 'k1', startCounter: 1n, epoch: '00000000000000aa', seq, payload: payload(vm) }, Buffer.from(keys[vm], 'hex'));
      if (k % 10 === 0 && last) { d = k % 20 === 0 ? Buffer.from(last) : Buffer.from(d); if (k % 20 !== 0) d[d.length - 1] ^= 1; bad++; }
      last = d;
      batch.push(d);
    }
    for (const d of batch) sock.send(d, port, '127.0.0.1');
    sent += batch.length;
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 200));
  process.send({ sent, bad });
  sock.close();
  process.exit(0);
}

// Parent: keys, the collector, the sender; read the collector's counters at the end.
const keys = {};
for (let i = 0; i < VMS; i++) keys[`vm-${i}`] = randomBytes(32).toString('hex');
writeFileSync(join(dir, 'keys.json'), JSON.stringify(keys));
writeFileSync(join(dir, 'keys'), Object.entries(keys).map(([vm, k]) => `${vm} k1 ${k}`).join('\n') + '\n');
const enc = join(dir, 'encoder.cjs');
await esbuild.build({ entryPoints: [join(root, 'supervisor/heartbeat-packet.ts')], outfile: enc, bundle: true, platform: 'node', format: 'cjs', logLevel: 'warning' });
const port = 30000 + Math.floor(Math.random() * 20000);
const env = { ...process.env }; delete env.NODE_EXTRA_CA_CERTS; delete env.NODE_OPTIONS;
const col = spawn(process.execPath, [join(root, 'dist/phoenix-ga-receiver.js'), '--listen', `127.0.0.1:${port}`, '--keys', join(dir, 'keys')], { stdio: ['ignore', 'ignore', 'pipe'], env });
let colErr = '';
col.stderr.on('data', (d) => { colErr += d; });
while (!colErr.includes('listening')) await new Promise((r) => setTimeout(r, 50));
const rssBefore = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${col.pid}/status`, 'utf8'))[1]);
const cpu0 = readFileSync(`/proc/${col.pid}/stat`, 'utf8').split(') ')[1].split(' ').slice(11, 13).map(Number);
const t0 = Date.now();
const sender = spawn(process.execPath, [fileURLToPath(import.meta.url), 'sender', enc, join(dir, 'keys.json'), String(port), String(SECONDS)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env });
const result = await new Promise((r) => sender.on('message', r));
const secs = (Date.now() - t0) / 1000;
const cpu1 = readFileSync(`/proc/${col.pid}/stat`, 'utf8').split(') ')[1].split(' ').slice(11, 13).map(Number);
col.kill('SIGUSR1');
await new Promise((r) => setTimeout(r, 300));
const counters = JSON.parse(colErr.trim().split('\n').filter((l) => l.startsWith('{')).pop());
const status = readFileSync(`/proc/${col.pid}/status`, 'utf8');
const rss = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
const cpuS = (cpu1[0] + cpu1[1] - cpu0[0] - cpu0[1]) / 100;
col.kill();
const verified = counters.ok;
console.log(`collector: ${VMS} VMs, ${result.sent} datagrams in ${secs.toFixed(1)} s (${result.bad} forged or replayed)`);
console.log(`verified ${verified} (${(verified / secs).toFixed(0)}/s wall, ${(verified / cpuS).toFixed(0)}/s per CPU-second of the collector); rejected: ${JSON.stringify(Object.fromEntries(Object.entries(counters).filter(([k, v]) => k !== 'ok' && v)))}`);
console.log(`lost on the way (UDP buffer full): ${result.sent - Object.values(counters).reduce((a, b) => a + b, 0)}`);
console.log(`collector RSS ${rssBefore} -> ${rss} KiB: ${(((rss - rssBefore) * 1024) / VMS).toFixed(0)} bytes per VM`);
const jsonFile = arg('json');
if (jsonFile) {
  writeFileSync(jsonFile, JSON.stringify({
    vms: VMS, sent: result.sent, forged: result.bad, seconds: secs, verified, perSecondWall: verified / secs, perCpuSecond: verified / cpuS,
    bytesPerVm: ((rss - rssBefore) * 1024) / VMS, counters,
  }, null, 1));
}

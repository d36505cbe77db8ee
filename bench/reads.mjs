// Read commands: reply time of each qemu-ga read command on phoenix-ga and on Debian's qemu-ga,
// called alternately in the same run (so both see the same load), --calls calls after a warm-up in
// each of --rounds rounds (p50: the median of the rounds'; p99 over all calls), and each agent's
// CPU per call (schedstat of every thread, median of blocks of 25 calls); the reply time of a call
// now and then to an idle agent (a panel's poll); and the CPU time and processes of one statistics
// sample, beside a bare node making the same system calls.
// A third server in the same rotation is the floor of any agent on Node: a bare node, with the
// worker's V8 flags, that answers each request with phoenix-ga's own reply to it, prepared in
// advance (no facts read).
// Usage: npm run build && node bench/reads.mjs [--calls 200] [--rounds 5] [--node PATH] [--only CMD,CMD] [--json FILE]

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { arg, connectRetry, env, loadAverage, median, NODE, now, pct, QEMU_GA, sleep, startPhoenix, startQemuGa, stop, threads, workerPid } from './lib.mjs';

const CALLS = Number(arg('calls', 200));
const ROUNDS = Number(arg('rounds', 5));
const BLOCK = 25;
const COMMANDS = ['guest-info', 'guest-get-osinfo', 'guest-get-host-name', 'guest-get-timezone', 'guest-get-vcpus', 'guest-get-users',
  'guest-get-cpustats', 'guest-get-diskstats', 'guest-get-fsinfo', 'guest-network-get-interfaces', 'guest-get-load', 'guest-network-get-route', 'phoenix-get-stats']
  .filter((c) => !arg('only') || arg('only').split(',').includes(c));

const dir = mkdtempSync(join(tmpdir(), 'bench-reads-'));
// A state directory of its own: the code cache is kept there, and another build started with the
// default one (an A/B, another checkout's bench) would replace it.
mkdirSync(`${dir}/state`);
const sup = startPhoenix(dir, ['--heartbeat-interval', '10', '--state-dir', `${dir}/state`]);
const p = await connectRetry(`${dir}/a.sock`);
await p.req('{"execute":"phoenix-set-stats","arguments":{"interval":1}}');
const qd = QEMU_GA ? mkdtempSync(join(tmpdir(), 'bench-qga-')) : null;
const q = QEMU_GA ? startQemuGa(qd) : null;
const qc = q ? await connectRetry(`${qd}/a.sock`) : null;
// The floor: phoenix-ga's replies, recorded now, played back by a bare node.
const replies = {};
for (const cmd of COMMANDS) replies[cmd] = await p.req(`{"execute":"${cmd}"}`);
writeFileSync(`${dir}/replies.json`, JSON.stringify(replies));
// The worker's V8 options that bear on a bare node's cost, for every floor below.
const BARE_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1'];
const FLOOR_SERVER = `const replies = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
require('net').createServer((s) => s.on('data', (d) => {
  const m = /"execute":"([^"]+)"/.exec(d.toString('latin1'));
  s.write((m && replies[m[1]]) + '\\n', 'latin1');
})).listen(process.argv[1]);`;
const floor = spawn(NODE, [...BARE_FLAGS, '-e', FLOOR_SERVER, `${dir}/floor.sock`, `${dir}/replies.json`], { stdio: 'ignore', env });
const fc = await connectRetry(`${dir}/floor.sock`);
// The floor of guest-network-get-interfaces on Node: a bare node that makes the reads phoenix-ga
// makes for it (getifaddrs, which lists only interfaces that are up; /proc/net/dev, which lists
// them all, and both route tables through held descriptors; a stat per interface in sysfs; the
// hardware address and flags of those getifaddrs leaves out, held open; each NIC's directory, for
// devices stacked on it, when a software device that can forward exists), then plays back the
// reply. What is left above it is phoenix-ga's own code.
const READS_SERVER = `const fs = require('fs'), os = require('os');
const replies = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const held = new Map(), buf = Buffer.alloc(16384), page = Buffer.alloc(4096), virtual = new Map();
const pread = (p) => { let fd = held.get(p); if (fd === undefined) held.set(p, fd = fs.openSync(p, 'r')); let n = 0, got; while ((got = fs.readSync(fd, buf, n, buf.length - n, n)) > 0) n += got; return n; };
const attr = (p) => { let fd = held.get(p); if (fd === undefined) held.set(p, fd = fs.openSync(p, 'r')); return fs.readSync(fd, page, 0, 4096, 0); };
function reads() {
  const up = os.networkInterfaces();
  const dev = buf.latin1Slice(0, pread('/proc/net/dev'));
  const names = dev.split('\\n').slice(2).map((l) => l.split(':')[0].trim()).filter(Boolean);
  for (const n of names) fs.statSync('/sys/class/net/' + n);
  for (const n of names) if (!up[n]) { attr('/sys/class/net/' + n + '/address'); attr('/sys/class/net/' + n + '/flags'); }
  // Learnt once per device: a software one, and whether it can forward for a NIC.
  for (const n of names) {
    if (virtual.has(n)) continue;
    const soft = fs.readlinkSync('/sys/class/net/' + n).includes('/virtual/');
    const dt = soft ? /DEVTYPE=(.*)/.exec(fs.readFileSync('/sys/class/net/' + n + '/uevent', 'latin1'))?.[1] : null;
    virtual.set(n, !soft ? 'nic' : /^(bridge|bond|team|vlan|macvlan|ipvlan|macvtap)$/.test(dt ?? '')
      || fs.readdirSync('/sys/class/net/' + n).some((e) => e === 'bridge' || e === 'bonding' || e.startsWith('lower_')) ? 'forwards' : 'other');
  }
  if (names.some((n) => virtual.get(n) === 'forwards')) for (const n of names) if (virtual.get(n) === 'nic') fs.readdirSync('/sys/class/net/' + n);
  pread('/proc/net/route');
  pread('/proc/net/ipv6_route');
}
require('net').createServer((s) => s.on('data', (d) => {
  const m = /"execute":"([^"]+)"/.exec(d.toString('latin1'));
  if (m && m[1] === 'guest-network-get-interfaces') reads();
  s.write((m && replies[m[1]]) + '\\n', 'latin1');
})).listen(process.argv[1]);`;
const readsFloor = spawn(NODE, [...BARE_FLAGS, '-e', READS_SERVER, `${dir}/reads.sock`, `${dir}/replies.json`], { stdio: 'ignore', env });
const rc = await connectRetry(`${dir}/reads.sock`);
await sleep(8000);
const wpid = workerPid(dir);

/**
 * One round of alternate calls to both agents and the floor: each one's reply times (us) and CPU
 * per call (us) of each block of calls; null for a server whose first reply was an error.
 */
async function round(cmd) {
  const text = `{"execute":"${cmd}"}`;
  const out = {};
  const agents = [['phoenix', p, wpid], ...(qc ? [['qemu', qc, q.pid]] : []), ['floor', fc, floor.pid],
    ...(cmd === 'guest-network-get-interfaces' ? [['readsFloor', rc, readsFloor.pid]] : [])];
  for (const [k, c] of agents) { const first = await c.req(text); if (first.includes('"error"')) out[k] = null; }
  const live = agents.filter(([k]) => out[k] !== null);
  for (let i = 0; i < 10; i++) for (const [, c] of live) await c.req(text);
  for (const [k] of live) out[k] = { lat: [], cpu: [] };
  // CPU is read between blocks, not around each call: reading every thread's /proc files between
  // calls lets the agent's threads go cold and lengthened both agents' replies. The median block
  // leaves out a block that caught a statistics sample or a heartbeat.
  for (let done = 0; done < CALLS; done += BLOCK) {
    const n = Math.min(BLOCK, CALLS - done);
    const c0 = Object.fromEntries(live.map(([k, , pid]) => [k, threads(pid).cpuMs]));
    for (let i = 0; i < n; i++) {
      for (const [k, c] of live) {
        const t = now();
        await c.req(text);
        out[k].lat.push((now() - t) * 1000);
      }
    }
    for (const [k, , pid] of live) out[k].cpu.push(((threads(pid).cpuMs - c0[k]) * 1000) / n);
  }
  return out;
}

// Every command once per round, ROUNDS rounds: a round's p50 moves with what the machine does in
// those few seconds (one recording's host-name, a single round of 200 calls, was 1.89x qemu-ga's;
// the same build's 0.98-1.17x in three runs of 1000 calls right after), so each figure is the
// median of the rounds' p50s. p99 and CPU per call are over every call and block of all rounds.
const rounds = Object.fromEntries(COMMANDS.map((c) => [c, []]));
for (let r = 0; r < ROUNDS; r++) for (const cmd of COMMANDS) rounds[cmd].push(await round(cmd));
const commands = {};
for (const cmd of COMMANDS) {
  const figures = (k) => {
    const mine = rounds[cmd].map((r) => r[k]);
    if (mine.some((x) => !x)) return null;
    return { p50: median(mine.map((x) => pct(x.lat, 0.5))), p99: pct(mine.flatMap((x) => x.lat), 0.99), cpuUsPerCall: median(mine.flatMap((x) => x.cpu)) };
  };
  // The servers are those the rounds called (the reads floor only for the interfaces).
  commands[cmd] = Object.fromEntries(Object.keys(rounds[cmd][0]).map((k) => [k, figures(k)]));
}

/**
 * A panel's poll: one request now and then to an agent that idles in between, so that its code and
 * data are out of the CPU's caches, not a stream of calls. Each agent gets one every COLD_GAP_MS,
 * alternately (the statistics are sampled at the default minute meanwhile, not every second).
 */
const COLD = ['guest-ping', 'guest-get-osinfo', 'guest-network-get-interfaces'].filter((c) => !arg('only') || arg('only').split(',').includes(c));
const COLD_CALLS = 21, COLD_GAP_MS = 250;
const cold = {};
await p.req('{"execute":"phoenix-set-stats","arguments":{"interval":60}}');
for (const cmd of COLD) {
  const text = `{"execute":"${cmd}"}`;
  const lat = { phoenix: [], qemu: [] };
  for (let i = 0; i < COLD_CALLS; i++) {
    for (const [k, c] of i % 2 ? [['qemu', qc], ['phoenix', p]] : [['phoenix', p], ['qemu', qc]]) {
      if (!c) continue;
      await sleep(COLD_GAP_MS);
      const t = now();
      await c.req(text);
      lat[k].push((now() - t) * 1000);
    }
  }
  cold[cmd] = { phoenix: median(lat.phoenix), qemu: qc ? median(lat.qemu) : null };
}
await p.req('{"execute":"phoenix-set-stats","arguments":{"interval":1}}');
const statsReply = JSON.parse(await p.req('{"execute":"phoenix-get-stats"}')).return;
const costs = statsReply.samples.length ? statsReply.cost : null;
// The cost over several samples: ask repeatedly over 10 s.
const cpu = [];
for (let i = 0; i < 10; i++) { await sleep(1000); const r = JSON.parse(await p.req('{"execute":"phoenix-get-stats","arguments":{"max":1}}')).return; if (r.cost) cpu.push(r.cost.cpuUs); }
const lastSample = statsReply.samples.at(-1);
// The floor of a sample on Node: a bare node making the same system calls, a second apart (cold, as
// the agent's sample is): a pread of each /proc file the sample reads (through descriptors held
// open), a statfs of each file system it reports, and a listing of /proc; nothing parsed.
const SAMPLE_FLOOR = `const fs = require('fs');
const fds = ['/proc/self/mountinfo', '/proc/uptime', '/proc/stat', '/proc/meminfo', '/proc/diskstats', '/proc/net/dev', '/proc/loadavg', '/proc/vmstat'].map((p) => fs.openSync(p, 'r'));
const mounts = JSON.parse(process.argv[1]), buf = Buffer.alloc(65536), cpu = [];
const round = async () => {
  const c0 = process.cpuUsage();
  for (const fd of fds) { let n = 0, got; while ((got = fs.readSync(fd, buf, n, buf.length - n, n)) > 0) n += got; }
  for (const m of mounts) await new Promise((r) => fs.statfs(m, r));
  fs.readdirSync('/proc').filter((n) => /^\\d+$/.test(n)).length;
  const c = process.cpuUsage(c0);
  cpu.push(c.user + c.system);
  if (cpu.length < 10) setTimeout(round, 1000); else console.log(JSON.stringify(cpu));
};
setTimeout(round, 1000);`;
const mounts = (lastSample?.filesystems ?? []).map((f) => f.mountpoint);
const floorRun = spawnSync(NODE, [...BARE_FLAGS, '-e', SAMPLE_FLOOR, JSON.stringify(mounts)], { encoding: 'utf8', env });
let sampleFloor = null;
try { sampleFloor = median(JSON.parse(floorRun.stdout)); } catch { /* no floor: the row says NaN */ }
p.close();
qc?.close();
fc.close();
floor.kill();
rc.close();
readsFloor.kill();
await stop(sup);
if (q) await stop(q);

const f = (x) => (x === null || x === undefined ? '-' : x.toFixed(0));
console.log(`\nreply time (us), ${ROUNDS} rounds of ${CALLS} calls each, alternately to phoenix-ga and qemu-ga; load average ${loadAverage()}`);
console.log('| command | phoenix p50 | phoenix p99 | qemu-ga p50 | qemu-ga p99 | p50 ratio | floor p50 | CPU/call phoenix | CPU/call qemu-ga | CPU/call floor |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const cmd of COMMANDS) {
  const a = commands[cmd].phoenix, b = commands[cmd].qemu, fl = commands[cmd].floor;
  console.log(`| ${cmd} | ${f(a?.p50)} | ${f(a?.p99)} | ${f(b?.p50)} | ${f(b?.p99)} | ${a && b ? (a.p50 / b.p50).toFixed(2) : '-'} | ${f(fl?.p50)} | ${f(a?.cpuUsPerCall)} | ${f(b?.cpuUsPerCall)} | ${f(fl?.cpuUsPerCall)} |`);
}
for (const cmd of COMMANDS) {
  const r = commands[cmd].readsFloor;
  if (r) console.log(`${cmd}: a bare node making phoenix-ga's reads and replaying the reply: p50 ${f(r.p50)} us, CPU/call ${f(r.cpuUsPerCall)} us`);
}
console.log(`\nstatistics sample: CPU per sample (us, median of ${cpu.length}): ${f(median(cpu))}; a bare node making its system calls: ${f(sampleFloor)}; processes spawned: ${costs?.spawned ?? '-'}; sample size ${JSON.stringify(lastSample).length} bytes of JSON`);
for (const cmd of COLD) console.log(`${cmd}, one call every ${COLD_GAP_MS} ms to an idle agent (p50 of ${COLD_CALLS}): phoenix-ga ${f(cold[cmd].phoenix)} us, qemu-ga ${f(cold[cmd].qemu)} us`);
const jsonFile = arg('json');
if (jsonFile) {
  writeFileSync(jsonFile, JSON.stringify({
    calls: CALLS, rounds: ROUNDS, loadAverage: loadAverage(), commands, cold, coldGapMs: COLD_GAP_MS,
    sample: { cpuUs: median(cpu), floorCpuUs: sampleFloor, spawned: costs?.spawned ?? null, jsonBytes: JSON.stringify(lastSample).length },
  }, null, 1));
}

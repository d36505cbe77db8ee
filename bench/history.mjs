// The statistics history as production has it: worker anon memory per stored sample (10,000
// samples against none), start -> first reply and worker kill -> serving with 0, 720 (the default,
// full) and 10,000 samples, and reading all 10,000 back in pages while a second connection pings
// (the longest a ping waited, the largest reply). Medians of --runs runs, the sizes taking turns.
// Usage: npm run build && node bench/history.mjs [--runs 5] [--node PATH] [--json FILE]

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, connectRetry, fillHistory, loadAverage, median, now, pssAnon, sleep, startPhoenix, stop, threads, warmCodeCache, workerPid } from './lib.mjs';

const RUNS = Number(arg('runs', 5));
const SIZES = [0, 720, 10_000];
const say = (m) => process.stderr.write(`history: ${m}\n`);

/** A fresh directory whose history holds N samples. */
async function dirWith(n) {
  const dir = mkdtempSync(join(tmpdir(), `bench-hist${n}-`));
  await fillHistory(join(dir, 'run'), n);
  return dir;
}

async function firstReply(n) {
  const dir = await dirWith(n);
  const t0 = now();
  const p = startPhoenix(dir);
  const c = await connectRetry(`${dir}/a.sock`);
  await c.req('{"execute":"guest-ping"}');
  const ms = now() - t0;
  c.close();
  await stop(p);
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

async function killToServing(n, kills) {
  const dir = await dirWith(n);
  const p = startPhoenix(dir);
  (await connectRetry(`${dir}/a.sock`)).close();
  const out = [];
  for (let i = 0; i < kills; i++) {
    let pid;
    while (!(pid = workerPid(dir))) await sleep(5);
    // The statistics files are opened on first use: a request reads them before the kill.
    const c = await connectRetry(`${dir}/a.sock`);
    await c.req('{"execute":"phoenix-get-stats","arguments":{"max":1}}');
    await sleep(700);
    const t0 = now();
    process.kill(pid, 'SIGKILL');
    await new Promise((r) => c.s.once('close', r));
    const c2 = await connectRetry(`${dir}/a.sock`);
    await c2.req('{"execute":"phoenix-get-stats","arguments":{"max":1}}');
    out.push(now() - t0);
    c2.close();
  }
  await stop(p);
  rmSync(dir, { recursive: true, force: true });
  return out;
}

/** Worker anon memory settled with N samples, and the whole history read back in pages. */
async function memoryAndWalk(n) {
  const dir = await dirWith(n);
  const p = startPhoenix(dir);
  const c = await connectRetry(`${dir}/a.sock`);
  await c.req('{"execute":"phoenix-get-stats","arguments":{"max":1}}');
  // Past V8's memory reducer (about 8 s after start).
  await sleep(12_000);
  const wpid = workerPid(dir);
  const anonKiB = pssAnon(wpid);
  const pinger = await connectRetry(`${dir}/a.sock`);
  let walking = true;
  let maxPingMs = 0;
  const pings = (async () => { while (walking) { const t = now(); await pinger.req('{"execute":"guest-ping"}'); maxPingMs = Math.max(maxPingMs, now() - t); await sleep(2); } })();
  let since = 0, pages = 0, samples = 0, maxBytes = 0;
  const pageMs = [];
  // The worker's CPU per page: how long one page holds its event loop, whatever the machine's load.
  const pageCpuMs = [];
  const t0 = now();
  for (;;) {
    const t = now();
    const cpu0 = threads(wpid).cpuMs;
    const line = await c.req(JSON.stringify({ execute: 'phoenix-get-stats', arguments: { since, max: 10_000 } }));
    pageMs.push(now() - t);
    pageCpuMs.push(threads(wpid).cpuMs - cpu0);
    maxBytes = Math.max(maxBytes, line.length);
    const r = JSON.parse(line).return;
    pages++;
    samples += r.samples.length;
    if (!r.more || !r.samples.length) break;
    since = r.samples[r.samples.length - 1].seq;
  }
  const walkMs = now() - t0;
  walking = false;
  await pings;
  c.close();
  pinger.close();
  await stop(p);
  rmSync(dir, { recursive: true, force: true });
  return { anonKiB, pages, samples, maxBytes, walkMs, pageP50Ms: median(pageMs), pageMaxMs: Math.max(...pageMs), pageCpuMaxMs: Math.max(...pageCpuMs), pageCpuP50Ms: median(pageCpuMs), maxPingMs };
}

const res = { loadAverage: loadAverage(), firstReply: {}, kill: {}, walk: {} };
await warmCodeCache();
// The sizes take turns, so that a drift of this machine's speed weighs on each of them alike.
const starts = Object.fromEntries(SIZES.map((n) => [n, []]));
for (let r = 0; r < RUNS; r++) for (const n of SIZES) starts[n].push(await firstReply(n));
for (const n of SIZES) {
  res.firstReply[n] = median(starts[n]);
  say(`start -> first reply with ${n} samples: ${res.firstReply[n].toFixed(0)} ms`);
}
const kills = { 0: [], 10000: [] };
for (let r = 0; r < Math.max(2, RUNS); r++) for (const n of [0, 10_000]) kills[n].push(...await killToServing(n, 2));
for (const n of [0, 10_000]) {
  res.kill[n] = median(kills[n]);
  say(`kill -> serving with ${n} samples: ${res.kill[n].toFixed(0)} ms`);
}
const walks = { 0: [], 10000: [] };
for (let r = 0; r < Math.max(3, Math.ceil(RUNS / 2)); r++) for (const n of [0, 10_000]) walks[n].push(await memoryAndWalk(n));
for (const n of [0, 10_000]) res.walk[n] = Object.fromEntries(Object.keys(walks[n][0]).map((k) => [k, median(walks[n].map((w) => w[k]))]));
const perSample = ((res.walk[10000].anonKiB - res.walk[0].anonKiB) * 1024) / 10_000;
say(`worker anon ${res.walk[0].anonKiB} KiB empty, ${res.walk[10000].anonKiB} KiB with 10,000 samples: ${perSample.toFixed(0)} bytes per sample`);
say(`10,000 samples in ${res.walk[10000].pages} pages, ${res.walk[10000].walkMs.toFixed(0)} ms; largest reply ${res.walk[10000].maxBytes} bytes; worker CPU per page p50 ${res.walk[10000].pageCpuP50Ms.toFixed(1)} ms, max ${res.walk[10000].pageCpuMaxMs.toFixed(1)} ms; a ping waited at most ${res.walk[10000].maxPingMs.toFixed(1)} ms`);
res.bytesPerSample = perSample;

const jsonFile = arg('json');
if (jsonFile) writeFileSync(jsonFile, JSON.stringify(res, null, 1));

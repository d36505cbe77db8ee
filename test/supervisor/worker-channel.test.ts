// The worker's IPC channel, opened by its loader while V8's flags are at their defaults
// (supervisor/code-cache.ts, supervisor/worker.ts): V8 takes Node's code cache for the channel's
// modules, the channel works, and the worker's own flags are in force again afterwards. Run on the
// runtime running the tests, started exactly as the supervisor starts its worker.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { codeCacheLoaderSource, LoaderChannel } from '../../supervisor/code-cache';
import { loaderChannel, workerExecArgs, workerV8Flags } from '../../supervisor/worker';
import { tempDir } from '../helpers/agent';

const FLAGS = [...workerExecArgs(48), ...workerV8Flags(process.execPath)];
// The channel's fd: 'ipc' is the fourth of the stdio below, as in the supervisor's.
const IPC_FD = 3;

interface Run { code: number | null; stdout: string; stderr: string; messages: unknown[] }

/** Runs SOURCE as the worker's bundle through the loader, with the supervisor's stdio and environment. */
async function runWorker(source: string, extraFlags: string[] = [], channel: LoaderChannel = loaderChannel(FLAGS, IPC_FD)): Promise<Run> {
  const dir = tempDir('pga-channel-');
  try {
    const agent = path.join(dir, 'agent.js');
    fs.writeFileSync(agent, source);
    const child = spawn(process.execPath, [...FLAGS, ...extraFlags, '-e', codeCacheLoaderSource(channel), agent, path.join(dir, 'cache'), path.join(dir, 'frozen')], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { NODE_CHANNEL_FD: '', PATH: process.env.PATH },
    });
    const run: Run = { code: null, stdout: '', stderr: '', messages: [] };
    child.stdout!.on('data', (d) => { run.stdout += d; });
    child.stderr!.on('data', (d) => { run.stderr += d; });
    child.on('message', (m) => run.messages.push(m));
    run.code = await new Promise((resolve) => child.on('exit', resolve));
    return run;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const count = (text: string, what: RegExp): number => text.split('\n').filter((l) => what.test(l)).length;
const REFUSED = /^\[Cached code failed check\]/;
const TAKEN = /^\[Deserializing from \d+ bytes/;

test("the channel's modules come from Node's code cache: V8 refuses no more of it than at Node's own start", async () => {
  // --profile-deserialization (left out of V8's flag hash) prints one line per cache V8 takes or refuses.
  const start = spawnSync(process.execPath, [...FLAGS, '--profile-deserialization', '-e', '0'], { encoding: 'utf8' });
  const before = count(start.stdout, REFUSED);
  const run = await runWorker("process.send({ channelFd: process.env.NODE_CHANNEL_FD ?? null, mode: process.env.NODE_CHANNEL_SERIALIZATION_MODE ?? null }, () => process.exit(0));", ['--profile-deserialization']);
  assert.is(run.code, 0, run.stderr);
  assert.is(run.stderr, '', 'no deprecation warning, nothing else');
  assert.equal(run.messages, [{ channelFd: null, mode: null }], 'the channel works; its variables are gone, as Node removes them');
  assert.is(count(run.stdout, REFUSED), before, run.stdout);
  assert.ok(count(run.stdout, TAKEN) >= 10, `child_process, net and the streams taken from the cache:\n${run.stdout}`);
});

test("the worker's own children do not inherit the channel's variables", async () => {
  const run = await runWorker("process.send(require('child_process').execFileSync('env', { encoding: 'utf8' }).split('\\n').filter((l) => l.startsWith('NODE_')), () => process.exit(0));");
  assert.is(run.code, 0, run.stderr);
  assert.equal(run.messages, [[]]);
});

// Allocates past 1 MB of old generation (which starts V8's memory reducer's wait), drops it, and
// reports the first full collection V8 runs by itself, within 4 s of the start.
const REDUCER_PROBE = `const { PerformanceObserver, constants } = require('perf_hooks');
let first = null;
new PerformanceObserver((l) => { for (const e of l.getEntries()) if (first === null && (e.detail?.kind ?? e.kind) === constants.NODE_PERFORMANCE_GC_MAJOR) first = Math.round(e.startTime); }).observe({ entryTypes: ['gc'] });
let keep = [];
for (let i = 0; i < 60000; i++) keep.push({ i, s: 'x' + i });
setTimeout(() => { keep = null; }, 100);
setTimeout(() => process.send({ first }, () => process.exit(0)), 4000);`;

test("the worker's own flags are in force again: its memory reducer starts after 1 s, not V8's 8 s", async () => {
  if (!workerV8Flags(process.execPath).length) return; // a V8 without the delay flag (Node 16)
  const run = await runWorker(REDUCER_PROBE);
  assert.is(run.code, 0, run.stderr);
  const [{ first }] = run.messages as Array<{ first: number | null }>;
  assert.ok(first !== null && first < 4000, `a full collection by 4 s: ${first}`);
  // The probe tells them apart: left at V8's defaults, the reducer waits its 8 s.
  const channel = loaderChannel(FLAGS, IPC_FD);
  const stuck = await runWorker(REDUCER_PROBE, [], { ...channel, v8Flags: channel.v8Defaults });
  assert.equal(stuck.messages, [{ first: null }]);
});

test.run();

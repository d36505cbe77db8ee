import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as v8 from 'v8';
import { spawnSync } from 'child_process';
import { collectAfterStart, createIdleCollector } from '../../agent/idle-gc';
import { compactFlag, v8FullGc } from '../../supervisor/memory-reducer';
import { workerExecArgs } from '../../supervisor/worker';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const YOUNG_CHILD = 'PHOENIX_GA_TEST_YOUNG_GENERATION';

// The child of the young-generation test: both semi-spaces touched as by a burst of requests, then
// 5.5 s without allocation (V8 judges the allocation rate over its last 5 s of collections).
if (process.env[YOUNG_CHILD]) {
  const young = (): number => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.physical_space_size;
  const gc = v8FullGc();
  let keep: unknown[] = [];
  for (let i = 0; i < 200_000; i++) { keep.push({ i, s: `request ${i}` }); if (keep.length > 1000) keep = []; }
  const before = young();
  setTimeout(() => { gc(); process.stdout.write(JSON.stringify({ before, after: young() })); }, 5500);
}

test('collects once, only after enough requests and only once the channel is quiet', async () => {
  let runs = 0;
  const c = createIdleCollector(100, [60], () => { runs++; });
  for (let i = 0; i < 99; i++) c.request();
  await sleep(150);
  assert.is(runs, 0, 'below the threshold nothing is armed');
  c.request();
  // Requests keep coming for 200 ms: the collection waits for the quiet period.
  for (let t = 0; t < 10; t++) { await sleep(20); c.request(); }
  assert.is(runs, 0, 'not while requests arrive');
  await sleep(200);
  assert.is(runs, 1);
  await sleep(150);
  assert.is(runs, 1, 'once per burst');
  for (let i = 0; i < 100; i++) c.request();
  await sleep(200);
  assert.is(runs, 2, 'the next burst gets its own');
});

test('collects again after a longer quiet period, unless requests came back after the first', async () => {
  let runs = 0;
  const c = createIdleCollector(100, [40, 160], () => { runs++; }, 20);
  for (let i = 0; i < 100; i++) c.request();
  await sleep(100);
  assert.is(runs, 1, 'the first at the short quiet period');
  await sleep(150);
  assert.is(runs, 2, 'the second once quiet for the long one');
  await sleep(200);
  assert.is(runs, 2, 'nothing more after the last');
  for (let i = 0; i < 100; i++) c.request();
  await sleep(100);
  assert.is(runs, 3);
  // Polled now and then after the first: the round ends, no timer waits for the long quiet period.
  for (let t = 0; t < 8; t++) { await sleep(30); c.request(); }
  await sleep(250);
  assert.is(runs, 3, 'a request after the first collection ends the round');
});

test("V8's full collection frees garbage that survived into old space", () => {
  const gc = v8FullGc();
  let keep: unknown[] | null = [];
  for (let i = 0; i < 200_000; i++) keep.push({ i, s: `request ${i}` });
  gc(); // promote it
  const withGarbage = v8.getHeapStatistics().used_heap_size;
  assert.is(keep.length, 200_000); // still live here (or V8 may free it early)
  keep = null;
  gc();
  const after = v8.getHeapStatistics().used_heap_size;
  assert.ok(withGarbage - after > 8 << 20, `freed ${((withGarbage - after) / 1048576).toFixed(1)} MiB`);
});

test('after 5 s without allocation the collection gives back the young generation too', async () => {
  // In a child with the worker's heap flags (this process's young generation is sized by default).
  const child = spawnSync(process.execPath, [...workerExecArgs(64), __filename], { env: { ...process.env, [YOUNG_CHILD]: '1' }, encoding: 'utf8' });
  const { before, after } = JSON.parse(child.stdout) as { before: number; after: number };
  assert.ok(before >= 1 << 20, `young generation ${before} bytes before`);
  assert.ok(after <= 512 << 10, `young generation ${after} bytes after (before: ${before})`);
});

test("Node 16's worker collects once soon after start (V8's reducer: 8 s); a newer V8's, never", async () => {
  let runs = 0;
  assert.ok(collectAfterStart('9.4.146.26-node.26', () => { runs++; }, 40));
  assert.not.ok(collectAfterStart('11.3.244.8-node.38', () => { runs += 10; }));
  await sleep(150);
  assert.is(runs, 1);
});

test('the compaction flag is the one the running V8 knows (renamed in V8 10, Node 18)', () => {
  assert.is(compactFlag('9.4.146.26-node.26'), '--always-compact');
  assert.is(compactFlag('10.2.154.26-node.39'), '--compact-on-every-full-gc');
  assert.is(compactFlag('11.3.244.8-node.38'), '--compact-on-every-full-gc');
});

if (!process.env[YOUNG_CHILD]) test.run();

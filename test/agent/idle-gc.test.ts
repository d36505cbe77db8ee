import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as v8 from 'v8';
import { compactFlag, createIdleCollector, v8FullGc } from '../../agent/idle-gc';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('collects once, only after enough requests and only once the channel is quiet', async () => {
  let runs = 0;
  const c = createIdleCollector(100, 60, () => { runs++; });
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

test('the compaction flag is the one the running V8 knows (renamed in V8 10, Node 18)', () => {
  assert.is(compactFlag('9.4.146.26-node.26'), '--always-compact');
  assert.is(compactFlag('10.2.154.26-node.39'), '--compact-on-every-full-gc');
  assert.is(compactFlag('11.3.244.8-node.38'), '--compact-on-every-full-gc');
});

test.run();

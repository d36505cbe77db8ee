// The V8 flags that start the memory reducer early, by runtime, and only for a worker on our binary.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { constants, PerformanceObserver } from 'perf_hooks';
import { collectionAfterStart, memoryReducerFlags, startMemoryReducerEarly } from '../../supervisor/memory-reducer';
import { workerV8Flags } from '../../supervisor/worker';
import { ROOT } from '../helpers/agent';

const FLAGS = ['--gc-memory-reducer-start-delay-ms=1000', '--optimize-for-size'];
const EARLY_CHILD = 'PHOENIX_GA_TEST_EARLY_COLLECTION';

// The child of the Node 16 test: started as the supervisor starts, then idle; the full
// collections (mark-compact) it saw by 4.6 s after start (V8's own reducer runs at 8 s).
if (process.env[EARLY_CHILD]) {
  let full = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (((e as { detail?: { kind: number } }).detail?.kind ?? (e as unknown as { kind: number }).kind) === constants.NODE_PERFORMANCE_GC_MAJOR) full++;
  });
  obs.observe({ entryTypes: ['gc'] });
  startMemoryReducerEarly();
  setTimeout(() => { obs.disconnect(); process.stdout.write(JSON.stringify({ full })); }, 4600 - process.uptime() * 1000);
}

test("only on a V8 that knows the delay flag (Node 16's 9.4 would print \"unrecognized flag\")", () => {
  assert.equal(memoryReducerFlags('9.4.146.26-node.26'), []);
  assert.equal(memoryReducerFlags('11.3.244.8-node.38'), FLAGS);
  assert.equal(memoryReducerFlags('14.6.202.34-node.40'), FLAGS);
});

test('where V8 has no delay flag, a process collects by itself 4 s after its start', () => {
  assert.is(collectionAfterStart('9.4.146.26-node.26'), 4000);
  assert.is(collectionAfterStart('11.3.244.8-node.38'), null);
});

test("Node 16: the process runs its full collections 4 s after start, not at V8's 8 s", () => {
  const node16 = execFileSync(process.execPath, [path.join(ROOT, 'build/runtime.mjs'), '16.20.2'], { encoding: 'utf8' }).trim();
  const child = spawnSync(node16, [__filename], { env: { ...process.env, [EARLY_CHILD]: '1' }, encoding: 'utf8' });
  assert.is(child.stderr, '');
  assert.ok(JSON.parse(child.stdout).full >= 2, child.stdout);
});

test('the worker gets them on our own binary, through a link too, and not on another runtime', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pga-v8flags-'));
  try {
    const own = path.join(dir, 'node-own');
    fs.writeFileSync(own, '');
    fs.symlinkSync(own, path.join(dir, 'current-node'));
    fs.writeFileSync(path.join(dir, 'node-other'), '');
    assert.equal(workerV8Flags(own, own, '11.3.244.8'), FLAGS);
    assert.equal(workerV8Flags(path.join(dir, 'current-node'), own, '11.3.244.8'), FLAGS);
    assert.equal(workerV8Flags(path.join(dir, 'node-other'), own, '11.3.244.8'), [], 'an update switched the runtime: its V8 may not know them');
    assert.equal(workerV8Flags(path.join(dir, 'gone'), own, '11.3.244.8'), []);
    assert.equal(workerV8Flags(own, own, '9.4.146.26'), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('V8 takes them on the runtime running the tests, without a word on stderr', () => {
  const r = spawnSync(process.execPath, [...workerV8Flags(process.execPath), '-e', '0'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stderr, '');
});

if (!process.env[EARLY_CHILD]) test.run();

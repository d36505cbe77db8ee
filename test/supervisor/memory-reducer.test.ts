// The V8 flags that start the memory reducer early, by runtime, and only for a worker on our binary.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { memoryReducerFlags } from '../../supervisor/memory-reducer';
import { workerV8Flags } from '../../supervisor/worker';

const FLAGS = ['--gc-memory-reducer-start-delay-ms=1000', '--optimize-for-size'];

test("only on a V8 that knows the delay flag (Node 16's 9.4 would print \"unrecognized flag\")", () => {
  assert.equal(memoryReducerFlags('9.4.146.26-node.26'), []);
  assert.equal(memoryReducerFlags('11.3.244.8-node.38'), FLAGS);
  assert.equal(memoryReducerFlags('14.6.202.34-node.40'), FLAGS);
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

test.run();

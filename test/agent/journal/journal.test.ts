// The journal file on its own: steps, recovery after a death, the poison rule, compaction.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import { openJournal } from '../../../agent/journal/journal';
import { createExactlyOnce } from '../../../agent/journal/exactly-once';
import { tempDir } from '../../helpers/agent';
import { QgaError } from '../../../agent/wire/reply';

const open = (dir: string, boot = 'b1') => openJournal({ dir, maxEntries: 5, bootId: boot, completesByReboot: (c) => c === 'guest-shutdown' });

test('every step is a line of its own, 0600, readable with cat', () => {
  const dir = tempDir();
  const j = open(dir);
  j.record({ key: 'k1', cmd: 'c', digest: 'd', step: 'received' });
  j.record({ key: 'k1', cmd: 'c', digest: 'd', step: 'started' });
  j.record({ key: 'k1', cmd: 'c', digest: 'd', step: 'done', result: { ok: 1 } });
  const text = fs.readFileSync(`${dir}/journal.jsonl`, 'utf8');
  assert.equal(text.trim().split('\n').map((l) => JSON.parse(l).step), ['received', 'started', 'done']);
  assert.is(fs.statSync(`${dir}/journal.jsonl`).mode & 0o777, 0o600);
  assert.equal(open(dir).get('k1')!.result, { ok: 1 });
});

test('after a death: started becomes interrupted, then failed for good if it dies again; shutdown across a reboot is done', () => {
  const dir = tempDir();
  const j = open(dir);
  j.record({ key: 'a', cmd: 'c', digest: 'd', step: 'started' });
  j.record({ key: 'r', cmd: 'c', digest: 'd', step: 'received' });
  j.record({ key: 's', cmd: 'guest-shutdown', digest: 'd', step: 'started' });
  const j2 = open(dir, 'b2');
  assert.equal(j2.recovered.map((e) => [e.key, e.step]), [['a', 'interrupted'], ['r', 'interrupted'], ['s', 'done']]);
  j2.record({ key: 'a', cmd: 'c', digest: 'd', step: 'started' }); // retried, and the worker dies again
  const j3 = open(dir, 'b2');
  const a = j3.get('a')!;
  assert.is(a.step, 'failed');
  assert.match(a.error!.desc, /died twice/);
  assert.is(a.interruptions, 2);
});

test('the runner: a retry gets the recorded result, another command under the same key is a conflict, a poison command is refused', async () => {
  const dir = tempDir();
  const j = open(dir);
  const once = createExactlyOnce(j);
  let runs = 0;
  const req = (args: Record<string, unknown>, cmd = 'c') => ({ cmd, key: 'k', publicArgs: args, run: async () => { runs++; return { n: runs }; } });
  assert.equal(await once.run(req({ x: 1 })), { n: 1 });
  assert.equal(await once.run(req({ x: 1 })), { n: 1 });
  assert.is(runs, 1);
  await once.run(req({ x: 2 })).then(() => assert.unreachable(), (e: QgaError) => assert.match(e.desc, /already used for c with other arguments/));
  await once.run(req({ x: 1 }, 'other')).then(() => assert.unreachable(), (e: QgaError) => assert.match(e.desc, /already used/));
  // Two requests with one key at the same time run once.
  const both = await Promise.all([once.run({ ...req({ y: 1 }), key: 'z' }), once.run({ ...req({ y: 1 }), key: 'z' })]);
  assert.equal(both, [{ n: 2 }, { n: 2 }]);
});

test('mutations run one at a time in arrival order', async () => {
  const once = createExactlyOnce(null);
  const order: string[] = [];
  const slow = (tag: string, ms: number) => ({ cmd: 'c', key: undefined, publicArgs: {}, run: async () => { order.push(`start ${tag}`); await new Promise((r) => setTimeout(r, ms)); order.push(`end ${tag}`); } });
  await Promise.all([once.run(slow('a', 30)), once.run(slow('b', 1)), once.run(slow('c', 10))]);
  assert.equal(order, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
});

test('compaction keeps the newest keys and the file stays readable', () => {
  const dir = tempDir();
  const j = open(dir);
  for (let i = 0; i < 20; i++) j.record({ key: `k${i}`, cmd: 'c', digest: 'd', step: 'done', result: i });
  const lines = fs.readFileSync(`${dir}/journal.jsonl`, 'utf8').trim().split('\n');
  assert.ok(lines.length <= 10, `${lines.length} lines`);
  const j2 = open(dir);
  assert.is(j2.get('k19')!.result, 19);
  assert.is(j2.get('k0'), undefined);
});

test('a journal that cannot be written refuses the command before it runs', async () => {
  const dir = tempDir();
  const j = open(dir);
  const once = createExactlyOnce({ ...j, record: () => { throw Object.assign(new Error('no space'), { code: 'ENOSPC' }); } });
  let ran = false;
  await once.run({ cmd: 'c', key: 'k', publicArgs: {}, run: async () => { ran = true; } }).then(() => assert.unreachable(), (e: QgaError) => assert.match(e.desc, /journal cannot be written \(ENOSPC\): c was not run/));
  assert.is(ran, false);
});

test.run();

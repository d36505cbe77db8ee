// Journal records on a real tmpfs filled up to a few hundred bytes of room: a record is written
// whole or not at all, a cut tail is repaired on open, and a command whose record could not be
// made is refused before it runs, never reported done and then run again.
import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { openJournal } from '../../../agent/journal/journal';
import { startAgent, tempDir, waitFor } from '../../helpers/agent';
import { QgaClient } from '../../helpers/qga-client';
import { slack, tinyFs } from '../../helpers/tiny-fs';

const open = (dir: string) => openJournal({ dir, maxEntries: 100, bootId: 'b1', completesByReboot: () => false });
const lines = (file: string) => fs.readFileSync(file, 'utf8').split('\n');

test('a cut last line is repaired on open: the next record is a line of its own, nothing glued', () => {
  const dir = tempDir();
  const j = open(dir);
  j.record({ key: 'k1', cmd: 'c', digest: 'd', step: 'done', result: { n: 1 } });
  const file = path.join(dir, 'journal.jsonl');
  const whole = fs.readFileSync(file, 'utf8');
  fs.appendFileSync(file, '{"interruptions":0,"key":"k2","cmd":"c","dig');
  const j2 = open(dir);
  assert.is(fs.readFileSync(file, 'utf8'), whole, 'the cut record is gone from the file');
  j2.record({ key: 'k3', cmd: 'c', digest: 'd', step: 'done', result: { n: 3 } });
  assert.equal(lines(file).filter(Boolean).map((l) => JSON.parse(l).key), ['k1', 'k3']);
  assert.equal(open(dir).get('k3')!.result, { n: 3 });
});

test.run();

const S = suite('journal on a nearly full disk');

S('a record that does not fit is never cut; the retry after a worker death gets the recorded result; the next key is refused, not run', async () => {
  const dir = tempDir();
  const state = tinyFs(512, path.join(dir, 'state'));
  const count = path.join(dir, 'runs');
  const agent = startAgent({ dir, interval: 0.2, hangTimeout: 10, testCommands: true });
  const journal = path.join(state.dir, 'journal', 'journal.jsonl');
  try {
    await agent.waitReady();
    // The worker opens its journal just after ready (or at the first keyed command).
    await waitFor('the journal opened', () => fs.existsSync(journal), 5000);
    let c = await QgaClient.connect(agent.sock);
    const req = (tag: string, key: string) => ({ file: count, tag, 'idempotency-key': key });
    // Records are ~200 bytes: leave room for two (received, started) but not the third (done).
    for (let i = 0; !(slack(journal) >= 400 && slack(journal) <= 560); i++) {
      if (i > 400) throw new Error(`could not reach the slack wanted, at ${slack(journal)}`);
      await c.request('phoenix-test-mutate', req(`pad${i}`, `pad-${i}`));
    }
    state.fill();
    const room = slack(journal);
    fs.writeFileSync(count, '');
    const first = await c.request('phoenix-test-mutate', req('t', 'op-1'));
    const ranFirst = lines(count).filter((l) => l === 't').length;
    const next = await c.request('phoenix-test-mutate', req('u', 'op-2'));
    assert.match(next.error?.desc ?? JSON.stringify(next), /was not run/, `room ${room}: ${JSON.stringify(next)}`);
    assert.is(lines(count).filter((l) => l === 'u').length, 0, 'refused, not run');
    for (const l of lines(journal).filter(Boolean)) JSON.parse(l);
    assert.ok(fs.readFileSync(journal, 'utf8').endsWith('\n'), 'no cut record at the end');
    // Room again (a log rotated, a file deleted), the worker dies, the panel retries with the same key.
    state.unfill();
    const pid = agent.workerPid()!;
    process.kill(pid, 'SIGKILL');
    await waitFor('a new worker answers', async () => {
      try { const c2 = await QgaClient.connect(agent.sock); const p = await c2.request('guest-ping', undefined, 1000); c2.close(); return p.return && agent.workerPid() !== pid; } catch { return null; }
    }, 8000, 100);
    c.close();
    c = await QgaClient.connect(agent.sock);
    const retry = await c.request('phoenix-test-mutate', req('t', 'op-1'));
    const ranTotal = lines(count).filter((l) => l === 't').length;
    const msg = `room ${room} bytes; first ${JSON.stringify(first)}, retry ${JSON.stringify(retry)}, runs ${ranTotal}`;
    if (first.return) {
      assert.equal(retry, first, `a success is a recorded success (${msg})`);
      assert.is(ranTotal, 1, `ran once (${msg})`);
    } else {
      assert.is(ranFirst, 0, `refused means not run (${msg})`);
    }
    c.close();
  } finally {
    await agent.stop();
    state.cleanup();
  }
});

S.run();

// Exactly once across real worker deaths: the worker is killed with SIGKILL at each journal step
// (--test-crash-at), the panel retries with the same idempotency key, and the command's runs are
// counted in a file.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import { startAgent, tempDir, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { makeTree } from '../helpers/root-tree';

async function retry(sock: string, req: string): Promise<any> {
  for (let i = 0; i < 50; i++) {
    try {
      const c = await QgaClient.connect(sock);
      c.write(req);
      const r = await c.next(3000);
      c.close();
      return r;
    } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  throw new Error('no answer');
}

const STEPS: Array<[string, number]> = [
  // crash point, runs of the command after crash + retry
  ['received', 1], // nothing ran; the retry runs it
  ['started', 1],  // died before the side effect; the retry runs it
  ['effect', 2],   // died after the side effect, before "done": the retry runs it again (convergent commands only)
  ['done', 1],     // recorded: the retry gets the recorded result
];

for (const [step, runs] of STEPS) {
  test(`killed at "${step}", retried with the same key: the command ran ${runs} time(s) and the retry got an answer`, async () => {
    const dir = tempDir();
    const count = `${dir}/runs`;
    const agent = startAgent({ dir, interval: 0.2, hangTimeout: 10, testCommands: true, args: ['--state-dir', `${dir}/state`, '--test-crash-at', `${step}:phoenix-test-mutate`] });
    try {
      const pid = await agent.waitReady();
      const req = JSON.stringify({ execute: 'phoenix-test-mutate', arguments: { file: count, tag: 't', 'idempotency-key': 'op-1' } });
      const first = await QgaClient.connect(agent.sock);
      first.write(req);
      await waitFor('worker killed', () => first.closed, 5000);
      await waitFor('new worker', () => { const s = agent.state(); return s?.worker.state === 'ready' && s.worker.pid !== pid; }, 5000);
      const r = await retry(agent.sock, req);
      assert.equal(r.return, { ran: 't' }, JSON.stringify(r));
      const lines = fs.existsSync(count) ? fs.readFileSync(count, 'utf8').trim().split('\n').filter(Boolean).length : 0;
      assert.is(lines, runs);
      // A third request with the same key never runs it again.
      assert.equal((await retry(agent.sock, req)).return, { ran: 't' });
      assert.is(fs.readFileSync(count, 'utf8').trim().split('\n').length, lines);
    } finally {
      await agent.stop();
    }
  });
}

test('a command that kills the worker twice is failed for good and never run a third time', async () => {
  const dir = tempDir();
  const count = `${dir}/runs`;
  const agent = startAgent({ dir, interval: 0.2, hangTimeout: 10, testCommands: true, args: ['--state-dir', `${dir}/state`, '--test-crash-at', 'effect:phoenix-test-mutate:5'] });
  try {
    await agent.waitReady();
    const req = JSON.stringify({ execute: 'phoenix-test-mutate', arguments: { file: count, tag: 'p', 'idempotency-key': 'poison' } });
    for (let i = 0; i < 2; i++) {
      const before = agent.state()!.worker.generation;
      const c = await QgaClient.connect(agent.sock);
      c.write(req);
      await waitFor('killed', () => c.closed, 5000);
      await waitFor('next generation', () => { const s = agent.state(); return s?.worker.state === 'ready' && s.worker.generation > before; }, 8000);
    }
    const r = await retry(agent.sock, req);
    assert.match(r.error.desc, /the agent died twice while running phoenix-test-mutate with this idempotency key; it is not run again/);
    assert.is(fs.readFileSync(count, 'utf8').trim().split('\n').length, 2);
  } finally {
    await agent.stop();
  }
});

test('real commands under crash and retry: the SSH key is there once, the host files are right', async () => {
  const dir = tempDir();
  const tree = makeTree();
  const K = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDzQOzGwH0oF7aE+8y1HqDPaFqjPpVZ8p5Nn0m8wX3Sd k';
  const agent = startAgent({ dir, interval: 0.2, hangTimeout: 10, testCommands: true, args: ['--os-root', tree.root, '--state-dir', `${dir}/state`, '--test-crash-at', 'effect:guest-ssh-add-authorized-keys'] });
  try {
    await agent.waitReady();
    const req = JSON.stringify({ execute: 'guest-ssh-add-authorized-keys', arguments: { username: 'alice', keys: [K], 'idempotency-key': 'ssh-1' } });
    const first = await QgaClient.connect(agent.sock);
    first.write(req);
    await waitFor('killed after writing the key', () => first.closed, 5000);
    assert.is(tree.read('/home/alice/.ssh/authorized_keys'), `${K}\n`);
    // The retry runs it again (it was interrupted after the effect): convergent, so still once.
    assert.equal((await retry(agent.sock, req)).return, {});
    assert.is(tree.read('/home/alice/.ssh/authorized_keys'), `${K}\n`, 'the key is there exactly once');
    const journal = fs.readFileSync(`${dir}/state/journal/journal.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
    assert.equal(journal, ['received', 'started', 'interrupted', 'received', 'started', 'done']);
  } finally {
    await agent.stop();
  }
});

test.run();

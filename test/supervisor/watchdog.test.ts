// The watchdog wakes the worker only when it must: a worker asleep in epoll_wait is left alone at
// every tick, a stopped one is still found out and killed as hung, and a command that waits long
// says itself that the worker is busy.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import { startAgent, tempDir, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Voluntary context switches of every thread of PID: how often it went to sleep, i.e. woke up. */
const wakeups = (pid: number): number => fs.readdirSync(`/proc/${pid}/task`)
  .reduce((n, t) => n + Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8'))![1]), 0);

test('an idle worker is not woken by the ticks; a stopped one is killed as hung', async () => {
  const agent = startAgent({ interval: 0.2, hangTimeout: 1.5 });
  try {
    const pid = await agent.waitReady();
    // Past the start-up work (the statistics baseline a second after start).
    await sleep(1500);
    const before = wakeups(pid);
    await sleep(2000);
    const woke = wakeups(pid) - before;
    assert.ok(woke <= 1, `the worker woke ${woke} times during 10 ticks`);
    process.kill(pid, 'SIGSTOP');
    const next = await waitFor('a new worker', () => { const s = agent.state(); return s?.worker.state === 'ready' && s.worker.pid !== pid && s.worker.pid; }, 8000);
    assert.ok(next > 0);
    assert.match(agent.output(), new RegExp(`worker ${pid} made no progress for \\d+ ms; killing it as hung`));
  } finally {
    await agent.stop();
  }
});

test('a command in flight for more than a second shows the worker busy', async () => {
  const dir = tempDir();
  const agent = startAgent({ dir, interval: 0.2, hangTimeout: 10, testCommands: true });
  try {
    await agent.waitReady();
    const slow = await QgaClient.connect(agent.sock);
    const other = await QgaClient.connect(agent.sock);
    const state = async () => (await other.request('phoenix-agent-status')).return.worker.state;
    assert.is(await state(), 'ready');
    const done = slow.request('phoenix-test-mutate', { file: `${dir}/runs`, tag: 'a', ms: 3000 }, 10_000);
    await waitFor('busy', async () => (await state()) === 'busy', 2500, 100);
    assert.equal((await done).return, { ran: 'a' });
    await waitFor('ready again', async () => (await state()) === 'ready', 2000, 100);
    slow.close();
    other.close();
  } finally {
    await agent.stop();
  }
});

test.run();

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
    // Past the start-up work: the statistics baseline a second after start and the first sample
    // 5 s after it (the next comes a minute later), the code cache written 2 s after ready, and on
    // Node 20 and newer V8's memory reducer, started 1 s after start, marking in steps for a second
    // or two. A window that held the first sample and one of these failed once under load.
    await sleep(6500);
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

/** Worker processes (agent*.js) below PID. */
function workersBelow(pid: number): number[] {
  const kids = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(d)]);
    } catch { /* gone */ }
  }
  const out: number[] = [];
  const walk = (p: number) => { for (const k of kids.get(p) ?? []) { out.push(k); walk(k); } };
  walk(pid);
  return out.filter((p) => { try { return /agent[\w-]*\.js/.test(fs.readFileSync(`/proc/${p}/cmdline`, 'utf8')); } catch { return false; } });
}

test('a worker starved at start (a CPU-starved VM) gets twice the time at each next start, so one gets ready', async () => {
  const agent = startAgent({ interval: 0.2, hangTimeout: 1 });
  const stalled = new Set<number>();
  let racing = true;
  try {
    const first = await agent.waitReady();
    // Every new worker is stopped at once and let go 3 s later: each start takes over 3 s, three
    // times the hang timeout. Killed at 1 s each time, no worker would ever be ready.
    const racer = (async () => {
      while (racing) {
        for (const p of workersBelow(agent.proc.pid!)) {
          if (p === first || stalled.has(p)) continue;
          stalled.add(p);
          try { process.kill(p, 'SIGSTOP'); } catch { /* gone */ }
          setTimeout(() => { try { process.kill(p, 'SIGCONT'); } catch { /* gone */ } }, 3000);
        }
        await sleep(5);
      }
    })();
    process.kill(first, 'SIGKILL');
    const next = await waitFor('a worker ready after slow starts', () => { const s = agent.state(); return s?.worker.state === 'ready' && s.worker.pid !== first && s.worker.pid; }, 30_000, 50);
    racing = false;
    await racer;
    const kills = agent.output().match(/made no progress for \d+ ms since it started; killing it as hung/g) ?? [];
    assert.ok(kills.length >= 2 && kills.length <= 3, `${kills.length} starting workers killed as hung:\n${agent.output()}`);
    assert.ok(stalled.has(next), 'the ready worker was stalled too');
  } finally {
    racing = false;
    await agent.stop();
  }
});

test.run();

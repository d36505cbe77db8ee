// Chaos against the real supervisor and worker: real signals, a real V8 heap limit, a real kernel
// OOM kill in a memory cgroup, real concurrent starts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { cleanEnv, processesAlive, startAgent, SUPERVISOR, tempDir, waitFor } from './helpers/agent';
import { ConnectionClosed, QgaClient } from './helpers/qga-client';
import { startReceiver } from './helpers/receiver';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function zombiesOf(pid: number): number[] {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((p) => {
    try {
      const st = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      return f[0] === 'Z' && Number(f[1]) === pid;
    } catch { return false; }
  });
}

/** A client that keeps sending numbered requests, reconnecting after the worker dies under it. */
function requestLoop(sock: string) {
  let stop = false;
  const stats = { answered: 0, connectionErrors: 0, wrong: 0, refused: 0 };
  const done = (async () => {
    let id = 0;
    while (!stop) {
      let c: QgaClient;
      try { c = await QgaClient.connect(sock, 2000); } catch { stats.refused++; await sleep(20); continue; }
      while (!stop && !c.closed) {
        const want = ++id;
        c.write(`{"execute":"guest-sync","arguments":{"id":${want}}}`);
        try {
          const r = await c.next(3000);
          if (r.return === want) stats.answered++; else stats.wrong++;
        } catch (e) {
          // The worker died with the request: a clean connection error, never a silent hang.
          if (e instanceof ConnectionClosed) stats.connectionErrors++; else stats.wrong++;
          break;
        }
      }
      c.close();
    }
  })();
  return { stats, finish: async () => { stop = true; await done; } };
}

test('kill -9 the worker 50 times under a request stream: every request is answered or sees a closed connection; the worker is always back; no zombies', async () => {
  const agent = startAgent({ interval: 0.5, hangTimeout: 5 });
  try {
    await agent.waitReady();
    const loop = requestLoop(agent.sock);
    const latencies: number[] = [];
    const pids = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const pid = await agent.waitReady(10_000);
      pids.add(pid);
      await sleep(520); // beyond the 500 ms spawn floor, so no kill waits for it
      const t0 = Date.now();
      process.kill(pid, 'SIGKILL');
      await waitFor('a new worker', () => { const s = agent.state(); return s && s.worker.state === 'ready' && s.worker.pid !== pid; }, 10_000, 2);
      latencies.push(Date.now() - t0);
    }
    await sleep(300);
    await loop.finish();
    const s = agent.state()!;
    assert.is(s.restarts_total, 50);
    assert.ok(s.deaths.every((d) => d.reason === 'signal'), 'outside kills are classified "signal"');
    assert.is(loop.stats.wrong, 0, 'no reply with a wrong id, no silent hang');
    assert.is(loop.stats.refused, 0, 'the supervisor keeps the socket: connecting never fails');
    assert.ok(loop.stats.connectionErrors >= 25, `only ${loop.stats.connectionErrors} of 50 kills were seen by the client`);
    assert.ok(loop.stats.answered > 200, `answered ${loop.stats.answered}`);
    assert.equal(processesAlive([...pids].filter((p) => p !== agent.workerPid())), [], 'no old worker survives');
    assert.equal(zombiesOf(agent.proc.pid!), []);
    latencies.sort((a, b) => a - b);
    console.log(`    kill -9 -> ready (state file, polled every 2 ms): p50 ${latencies[25]} ms, p90 ${latencies[45]} ms, max ${latencies[49]} ms; ${loop.stats.answered} answered, ${loop.stats.connectionErrors} connection errors`);
  } finally {
    await agent.stop();
  }
});

test('SIGSTOP the worker: killed as hung, restarted, and the heartbeat says hung', async () => {
  const dir = tempDir();
  const r = await startReceiver(dir);
  const agent = startAgent({ dir, interval: 0.2, hangTimeout: 1, heartbeatPort: r.port, keyFile: r.keyFile });
  try {
    const pid = await agent.waitReady();
    await r.waitState('working');
    process.kill(pid, 'SIGSTOP');
    await r.waitState('hung', 5000);
    const next = await waitFor('restart after hang', () => { const s = agent.state(); return s?.worker.state === 'ready' && s.worker.pid !== pid && s.worker.pid; }, 5000);
    assert.is(agent.state()!.deaths.at(-1)!.reason, 'hung');
    assert.equal(processesAlive([pid]), [], 'the stopped worker is gone');
    const c = await QgaClient.connect(agent.sock);
    assert.equal(await c.request('guest-ping'), { return: {} });
    c.close();
    assert.ok(next !== pid);
  } finally {
    await agent.stop();
    r.close();
  }
});

test('a blocked event loop is hung too', async () => {
  const agent = startAgent({ interval: 0.2, hangTimeout: 1, testCommands: true });
  try {
    const pid = await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    c.write('{"execute":"phoenix-test-block","arguments":{"ms":30000}}');
    await waitFor('hung kill', () => agent.state()!.deaths.at(-1)?.reason === 'hung' && agent.state()!.worker.pid !== pid, 6000);
    c.close();
  } finally {
    await agent.stop();
  }
});

test('V8 heap exhaustion is classified heap-oom, and the heartbeat says oom-killed', async () => {
  const dir = tempDir();
  const r = await startReceiver(dir);
  const agent = startAgent({ dir, interval: 0.2, hangTimeout: 10, testCommands: true, heartbeatPort: r.port, keyFile: r.keyFile, args: ['--worker-heap-mb', '16'] });
  try {
    const pid = await agent.waitReady();
    await r.waitState('working');
    const c = await QgaClient.connect(agent.sock);
    c.write('{"execute":"phoenix-test-alloc","arguments":{"mb":400,"where":"heap"}}');
    await waitFor('worker death', () => agent.state()!.deaths.length > 0, 20_000);
    const d = agent.state()!.deaths.at(-1)!;
    assert.is(d.reason, 'heap-oom');
    assert.is(d.signal, 'SIGABRT');
    const v = await r.waitState('oom-killed');
    assert.is(v.payload.last_exit!.reason, 'heap-oom');
    await waitFor('restart', () => { const s = agent.state(); return s?.worker.state === 'ready' && s.worker.pid !== pid; }, 5000);
    c.close();
  } finally {
    await agent.stop();
    r.close();
  }
});

const V1_MEMORY = '/sys/fs/cgroup/memory';

test('a real kernel OOM kill in a memory cgroup is classified kernel-oom; the supervisor survives', async () => {
  if (process.getuid!() !== 0 || !fs.existsSync(path.join(V1_MEMORY, 'cgroup.procs'))) {
    throw new Error('needs root and the cgroup v1 memory controller at /sys/fs/cgroup/memory (CI has both)');
  }
  const dir = tempDir();
  const r = await startReceiver(dir);
  const agent = startAgent({ dir, interval: 0.2, hangTimeout: 10, testCommands: true, heartbeatPort: r.port, keyFile: r.keyFile });
  const cg = path.join(V1_MEMORY, `phoenix-ga-test-${process.pid}`);
  try {
    const pid = await agent.waitReady();
    fs.mkdirSync(cg);
    fs.writeFileSync(path.join(cg, 'memory.limit_in_bytes'), String(96 << 20));
    fs.writeFileSync(path.join(cg, 'cgroup.procs'), String(pid));
    await sleep(500); // a tick re-reads the worker's OOM counters in its new cgroup
    const c = await QgaClient.connect(agent.sock);
    c.write('{"execute":"phoenix-test-alloc","arguments":{"mb":300,"where":"buffer"}}');
    await waitFor('worker death', () => agent.state()!.deaths.length > 0, 20_000);
    const d = agent.state()!.deaths.at(-1)!;
    assert.is(d.signal, 'SIGKILL');
    assert.is(d.reason, 'kernel-oom');
    assert.match(fs.readFileSync(path.join(cg, 'memory.oom_control'), 'utf8'), /oom_kill [1-9]/);
    const v = await r.waitState('oom-killed');
    assert.is(v.payload.last_exit!.reason, 'kernel-oom');
    await waitFor('restart', () => { const s = agent.state(); return s?.worker.state === 'ready' && s.worker.pid !== pid; }, 5000);
    assert.is(agent.proc.exitCode, null, 'the supervisor survived');
    c.close();
  } finally {
    await agent.stop();
    r.close();
    try { fs.rmdirSync(cg); } catch { /* still populated */ }
  }
});

test('kill -9 of the supervisor leaves no worker and no grandchild behind', async () => {
  const agent = startAgent({ interval: 0.5, testCommands: true });
  const pid = await agent.waitReady();
  const c = await QgaClient.connect(agent.sock);
  const child = (await c.request('phoenix-test-spawn', { s: 300 })).return.pid;
  assert.equal(processesAlive([child]), [child]);
  agent.proc.kill('SIGKILL');
  await waitFor('worker and its child gone', () => processesAlive([pid, child]).length === 0, 2000);
  c.close();
});

test('the supervisor killed by any fatal signal leaves no worker and no grandchild', async () => {
  for (const sig of ['SIGQUIT', 'SIGABRT', 'SIGSEGV', 'SIGBUS', 'SIGALRM', 'SIGPIPE'] as const) {
    const agent = startAgent({ interval: 0.5, testCommands: true });
    const pid = await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    const child = (await c.request('phoenix-test-spawn', { s: 300 })).return.pid;
    process.kill(agent.proc.pid!, sig);
    const died = await new Promise<boolean>((r) => { const t = setTimeout(() => r(false), 2000); agent.proc.once('exit', () => { clearTimeout(t); r(true); }); });
    if (!died) { agent.proc.kill('SIGKILL'); } // SIGPIPE and friends may be ignored: then it is alive, which is fine
    await waitFor(`worker and child gone after ${sig}`, () => processesAlive([pid, child]).length === 0 || (!died && processesAlive([pid]).length === 1), 2000);
    if (!died) await waitFor('cleanup', () => processesAlive([pid, child]).length === 0, 2000);
    c.close();
  }
});

test('SIGUSR1, SIGUSR2 and SIGHUP change nothing: no inspector port opens, nothing dies', async () => {
  const agent = startAgent({ interval: 0.5 });
  try {
    const pid = await agent.waitReady();
    for (const sig of ['SIGUSR1', 'SIGUSR2', 'SIGHUP'] as const) {
      process.kill(agent.proc.pid!, sig);
      process.kill(pid, sig);
    }
    await sleep(500);
    assert.is(agent.workerPid(), pid);
    assert.is(agent.proc.exitCode, null);
    const listening = fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').filter((l) => / 0100007F:240D .* 0A /.test(l));
    assert.equal(listening, [], 'nothing listens on 127.0.0.1:9229');
  } finally {
    await agent.stop();
  }
});

test('kill -9 of the worker also ends what it spawned', async () => {
  const agent = startAgent({ interval: 0.5, testCommands: true });
  try {
    const pid = await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    const child = (await c.request('phoenix-test-spawn', { s: 300 })).return.pid;
    process.kill(pid, 'SIGKILL');
    await waitFor('grandchild gone', () => processesAlive([child]).length === 0, 2000);
    c.close();
  } finally {
    await agent.stop();
  }
});

test('the kernel is told to prefer the worker over the supervisor (oom_score_adj)', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const agent = startAgent({ interval: 0.5 });
  try {
    const pid = await agent.waitReady();
    assert.is(fs.readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8').trim(), '500');
    // Lowering needs CAP_SYS_RESOURCE, which some sandboxes (this CI's) drop even for root.
    const caps = BigInt('0x' + /CapEff:\s+([0-9a-f]+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]);
    const canLower = ((caps >> 24n) & 1n) === 1n;
    assert.is(fs.readFileSync(`/proc/${agent.proc.pid}/oom_score_adj`, 'utf8').trim(), canLower ? '-900' : '0');
  } finally {
    await agent.stop();
  }
});

test('a supervisor restarted during a crash loop continues the backoff instead of restarting a storm', async () => {
  const first = startAgent({ interval: 0.2, testCommands: true });
  let pid = await first.waitReady();
  for (let i = 0; i < 4; i++) {
    const prev = pid;
    if (i > 0) pid = await waitFor('next worker', () => { const s = first.state(); return s?.worker.state === 'ready' && s.worker.pid !== prev && s.worker.pid; }, 10_000);
    const c = await QgaClient.connect(first.sock);
    c.write('{"execute":"phoenix-test-exit","arguments":{"code":1}}');
    await waitFor('exit', () => c.closed, 3000);
  }
  await waitFor('backoff', () => first.state()?.worker.state === 'backoff', 3000);
  const failures = first.state()!.restart.failures;
  assert.ok(failures >= 4, `failures ${failures}`);
  first.proc.kill('SIGKILL');
  await new Promise((r) => first.proc.once('exit', r));
  const t0 = Date.now();
  const second = startAgent({ dir: first.dir, interval: 0.2 });
  try {
    await waitFor('second supervisor in backoff', () => { const s = second.state(); return s !== null && s.supervisor.pid === second.proc.pid && s.worker.state === 'backoff'; }, 3000);
    assert.is(second.state()!.restart.failures, failures, 'failure count carried over');
    await second.waitReady(10_000);
    // failures=4 means a 1 s backoff from the last death; a fresh supervisor would start at once.
    assert.ok(Date.now() - t0 >= 300, `worker started ${Date.now() - t0} ms after the new supervisor`);
  } finally {
    await second.stop();
  }
});

test('a stopped worker of a SIGKILLed supervisor is killed by the next supervisor, which continues the bookkeeping', async () => {
  const first = startAgent({ interval: 0.5 });
  const pid = await first.waitReady();
  process.kill(pid, 'SIGKILL'); // one restart on the books
  const pid2 = await first.waitFor('restart', () => { const s = first.state(); return s?.worker.state === 'ready' && s.worker.pid !== pid && s.worker.pid; });
  process.kill(pid2, 'SIGSTOP');
  first.proc.kill('SIGKILL');
  await sleep(300);
  assert.equal(processesAlive([pid2]), [pid2], 'a stopped worker cannot notice its supervisor died');
  const second = startAgent({ dir: first.dir, interval: 0.5 });
  try {
    await waitFor('leftover worker killed', () => processesAlive([pid2]).length === 0, 3000);
    await second.waitReady();
    const s = second.state()!;
    assert.is(s.restarts_total, 1, 'restart count continued from the previous supervisor');
    assert.ok(s.worker.generation >= 3, `generation ${s.worker.generation}`);
  } finally {
    await second.stop();
  }
});

test('two supervisors started at once: exactly one runs, the other exits 100 and says why', async () => {
  const dir = tempDir();
  const runDir = path.join(dir, 'run');
  const start = (n: number) => spawn(process.execPath, [SUPERVISOR, '--channel', `unix:${dir}/s${n}.sock`, '--run-dir', runDir, '--state-dir', `${dir}/state`, '--log-file', '-', '--regenerate-identity-on-clone', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
  const procs = [start(1), start(2), start(3)];
  const outputs = procs.map((p) => { let o = ''; p.stderr!.on('data', (d) => { o += d; }); return () => o; });
  const codes = await Promise.all(procs.map((p) => new Promise<number | null>((res) => {
    const t = setTimeout(() => res(null), 1500);
    p.on('exit', (code) => { clearTimeout(t); res(code); });
  })));
  try {
    assert.is(codes.filter((c) => c === null).length, 1, `exit codes: ${codes}`);
    assert.is(codes.filter((c) => c === 100).length, 2, `exit codes: ${codes}`);
    const loser = codes.findIndex((c) => c === 100);
    assert.match(outputs[loser](), /another phoenix-ga supervisor .*is already running for run-dir/);
  } finally {
    for (const p of procs) p.kill('SIGTERM');
  }
});

test('SIGTERM stops the worker and the supervisor exits 0', async () => {
  const agent = startAgent({ interval: 0.5 });
  const pid = await agent.waitReady();
  const r = await agent.stop();
  assert.equal(r, { code: 0, signal: null });
  assert.equal(processesAlive([pid]), []);
  assert.is(agent.state()!.worker.state, 'stopped');
  assert.not.ok(fs.existsSync(agent.sock), 'socket file removed');
});

test.run();

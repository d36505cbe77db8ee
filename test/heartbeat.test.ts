// Heartbeats from the real supervisor, verified by the panel's receiver library.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startAgent, tempDir, waitFor } from './helpers/agent';
import { QgaClient } from './helpers/qga-client';
import { startReceiver } from './helpers/receiver';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('heartbeats carry the documented fields; working while serving; silent when the supervisor is stopped', async () => {
  const dir = tempDir();
  const r = await startReceiver(dir);
  const agent = startAgent({ dir, interval: 0.2, heartbeatPort: r.port, keyFile: r.keyFile });
  try {
    const pid = await agent.waitReady();
    const v = await r.waitState('working');
    const p = v.payload;
    assert.is(p.sup.pid, agent.proc.pid);
    assert.is(p.worker.pid, pid);
    assert.is(p.worker.state, 'ready');
    assert.is(p.interval_ms, 200);
    assert.ok(p.boot.length > 10 && /^[0-9a-f]{16}$/.test(v.epoch));
    assert.ok(p.sup.anon_kb > 0 && p.worker.anon_kb! > 0);
    assert.is(p.channel.kind, 'unix');
    assert.ok(r.datagrams.every((d) => d.length < 1024), 'every datagram is under 1 KiB');
    process.kill(agent.proc.pid!, 'SIGSTOP');
    await r.waitState('silent', 3000);
    process.kill(agent.proc.pid!, 'SIGCONT');
    r.states.length = 0;
    await r.waitState('working', 3000);
  } finally {
    await agent.stop();
    r.close();
  }
});

test('a crash loop: the receiver says crash-looping, the beat rate holds, the supervisor never gives up', async () => {
  const dir = tempDir();
  const r = await startReceiver(dir);
  const agent = startAgent({ dir, interval: 0.2, testCommands: true, heartbeatPort: r.port, keyFile: r.keyFile });
  try {
    let pid = await agent.waitReady();
    const t0 = Date.now();
    for (let i = 0; i < 4; i++) {
      const prev = pid;
      if (i > 0) pid = await waitFor('next worker', () => { const s = agent.state(); return s?.worker.state === 'ready' && s.worker.pid !== prev && s.worker.pid; }, 10_000);
      const c = await QgaClient.connect(agent.sock);
      c.write('{"execute":"phoenix-test-exit","arguments":{"code":3}}');
      await waitFor('worker exit', () => c.closed, 3000);
    }
    const v = await r.waitState('crash-looping', 5000);
    assert.ok(v.payload.restarts.failures_10m >= 3);
    assert.is(v.payload.last_exit!.reason, 'crash');
    assert.is(v.payload.last_exit!.code, 3);
    // The backoff ends and a fifth generation is serving.
    await waitFor('generation 5', () => { const s = agent.state(); return s?.worker.state === 'ready' && s.worker.generation === 5; }, 10_000);
    const beats = r.beats.filter((b) => b.at >= t0);
    const gaps = beats.slice(1).map((b, i) => b.at - beats[i].at);
    assert.ok(Math.max(...gaps) < 600, `largest gap between beats ${Math.max(...gaps)} ms at a 200 ms interval`);
    const seqs = beats.map((b) => BigInt(b.view.seq));
    assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), 'sequence numbers strictly increase');
    assert.is(agent.state()!.deaths.filter((d) => d.reason === 'crash').length, 4, JSON.stringify(agent.state()!.deaths));
  } finally {
    await agent.stop();
    r.close();
  }
});

test('without a key or a collector the agent runs and says so once', async () => {
  const agent = startAgent({ interval: 0.1 });
  try {
    await agent.waitReady();
    await sleep(500);
    const lines = agent.output().split('\n').filter((l) => l.includes('heartbeats are off'));
    assert.is(lines.length, 1);
    assert.match(lines[0], /no collector is configured/);
  } finally {
    await agent.stop();
  }
  const dir = tempDir();
  const agent2 = startAgent({ dir, interval: 0.1, heartbeatPort: 9, keyFile: `${dir}/missing.key` });
  try {
    await agent2.waitReady();
    assert.match(agent2.output(), /heartbeats are off: no usable key: ENOENT/);
  } finally {
    await agent2.stop();
  }
});

test('a key file readable by others is refused', async () => {
  const dir = tempDir();
  const r = await startReceiver(dir);
  require('fs').chmodSync(r.keyFile, 0o644);
  const agent = startAgent({ dir, interval: 0.1, heartbeatPort: r.port, keyFile: r.keyFile });
  try {
    await agent.waitReady();
    await sleep(300);
    assert.match(agent.output(), /heartbeats are off: no usable key: .* is readable by group or others/);
    assert.is(r.datagrams.length, 0);
  } finally {
    await agent.stop();
    r.close();
  }
});

test.run();

// Heartbeats from the real supervisor, verified by the panel's receiver library: the documented
// fields, the start counter it saves, the last `stopping` beat, and the key reloaded on SIGHUP.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'crypto';
import * as dgram from 'dgram';
import * as fs from 'fs';
import { readHeader } from '../supervisor/heartbeat-packet';
import { HeartbeatReceiver } from '../panel/heartbeat-receiver';
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
    // The memory figures follow each new worker, whose /proc files the supervisor holds open.
    const fifth = agent.state()!.worker.pid;
    await waitFor('a beat with the fifth worker\'s memory', () => r.beats.some(({ view: { payload: { worker: w } } }) => w.pid === fifth && w.rss_kb! > 0 && w.anon_kb! > 0), 3000);
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

/** A UDP socket on loopback that keeps every datagram. */
async function tap(): Promise<{ port: number; got: Buffer[]; close(): void }> {
  const s = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  s.on('message', (d) => got.push(d));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return { port: s.address().port, got, close: () => s.close() };
}

const header = (d: Buffer) => { const h = readHeader(d); if (!h.ok) throw new Error(`unreadable datagram: ${h.why}`); return h.header; };

test('the start counter grows at every start, across a wiped run dir, and is kept root-only in the state dir', async () => {
  const dir = tempDir();
  const r = await startReceiver(dir);
  const t = await tap();
  try {
    const counters: bigint[] = [];
    for (let i = 0; i < 3; i++) {
      // A new run dir each time (a reboot empties /run); the state dir stays.
      const a = startAgent({ dir, interval: 0.1, heartbeatPort: t.port, keyFile: r.keyFile, args: ['--run-dir', `${dir}/run${i}`] });
      await a.waitFor('a beat', () => t.got.length > 0, 5000);
      await a.stop();
      counters.push(header(t.got[0]).startCounter);
      assert.ok(t.got.every((d) => header(d).startCounter === counters[i]), 'one counter per start');
      t.got.length = 0;
    }
    assert.ok(counters[0] < counters[1] && counters[1] < counters[2], counters.join(' < '));
    assert.ok(counters[0] >= BigInt(Date.now() - 60_000), 'seeded from the clock (ms)');
    const st = fs.statSync(`${dir}/state/heartbeat-start`);
    assert.is(st.mode & 0o777, 0o600);
    assert.is(fs.readFileSync(`${dir}/state/heartbeat-start`, 'utf8'), `${counters[2]}\n`);
    // Ahead of the clock (a clock set back): the next start still goes above it.
    fs.writeFileSync(`${dir}/state/heartbeat-start`, `${BigInt(Date.now()) + 3_600_000n}\n`);
    const a = startAgent({ dir, interval: 0.1, heartbeatPort: t.port, keyFile: r.keyFile });
    await a.waitFor('a beat', () => t.got.length > 0, 5000);
    await a.stop();
    assert.ok(header(t.got[0]).startCounter > BigInt(Date.now()) + 3_000_000n);
  } finally {
    t.close();
    r.close();
  }
});

test('SIGTERM: a last beat says stopping, and the collector shows stopped, not silent', async () => {
  const dir = tempDir();
  const r = await startReceiver(dir);
  const agent = startAgent({ dir, interval: 0.1, heartbeatPort: r.port, keyFile: r.keyFile });
  try {
    await agent.waitReady();
    await r.waitState('working');
    const t0 = Date.now();
    assert.equal(await agent.stop(), { code: 0, signal: null });
    const v = await r.waitState('stopped', 2000);
    assert.ok(Date.now() - t0 < 2000);
    assert.is(v.payload.stopping, true);
    assert.is(v.payload.worker.state, 'stopped');
    assert.is(v.payload.worker.pid, null);
    await new Promise((res) => setTimeout(res, 600));
    assert.is(r.receiver.views()[0].state, 'stopped', 'six intervals later: still stopped');
    assert.not.ok(r.states.includes('silent'));
  } finally {
    await agent.stop();
    r.close();
  }
});

test('SIGHUP reloads the key file: the new key is used, the epoch and the sequence go on; a broken file keeps the old key', async () => {
  const dir = tempDir();
  const k1 = crypto.randomBytes(32);
  const k2 = crypto.randomBytes(32);
  const keyFile = `${dir}/heartbeat.key`;
  fs.writeFileSync(keyFile, `k1 ${k1.toString('hex')}\n`, { mode: 0o600 });
  const r = new HeartbeatReceiver(new Map([['vm-test', [{ keyId: 'k1', key: k1 }, { keyId: 'k2', key: k2 }]]]));
  const t = await tap();
  const agent = startAgent({ dir, interval: 0.1, heartbeatPort: t.port, keyFile });
  try {
    await agent.waitFor('beats', () => t.got.length >= 3, 5000);
    fs.writeFileSync(keyFile, `k2 ${k2.toString('hex')}\n`);
    process.kill(agent.proc.pid!, 'SIGHUP');
    await agent.waitFor('a beat under k2', () => t.got.some((d) => header(d).keyId === 'k2'), 3000);
    fs.writeFileSync(keyFile, 'k3 not-hex\n');
    process.kill(agent.proc.pid!, 'SIGHUP');
    await agent.waitFor('the refusal logged', () => agent.output().includes('key not reloaded, the old one stays'), 3000);
    const n = t.got.length;
    await agent.waitFor('more beats', () => t.got.length >= n + 3, 3000);
    const hs = t.got.map(header);
    assert.ok(hs.every((h) => h.epoch === hs[0].epoch && h.startCounter === hs[0].startCounter), 'one epoch throughout');
    assert.ok(hs.every((h, i) => i === 0 || h.seq === hs[i - 1].seq + 1n), 'the sequence goes on');
    assert.equal([...new Set(hs.map((h) => h.keyId))], ['k1', 'k2']);
    for (const d of t.got) assert.ok(r.accept(d).ok, 'each verifies under the key it names');
    assert.match(agent.output(), /key reloaded \(key id 'k2'\)/);
    assert.not.ok(agent.output().includes(k2.toString('hex')), 'no key in the log');
    assert.is(agent.proc.exitCode, null);
  } finally {
    await agent.stop();
    t.close();
  }
});

test('a key provisioned after start is taken on SIGHUP, without a restart', async () => {
  const dir = tempDir();
  const r = await startReceiver(dir);
  const keyText = fs.readFileSync(r.keyFile, 'utf8');
  fs.rmSync(r.keyFile);
  const agent = startAgent({ dir, interval: 0.1, heartbeatPort: r.port, keyFile: r.keyFile });
  try {
    const pid = await agent.waitReady();
    await agent.waitFor('heartbeats off', () => agent.output().includes('heartbeats are off: no usable key'), 2000);
    fs.writeFileSync(r.keyFile, keyText, { mode: 0o600 });
    process.kill(agent.proc.pid!, 'SIGHUP');
    const v = await r.waitState('working', 3000);
    assert.is(v.payload.worker.pid, pid, 'the same worker: nothing restarted');
  } finally {
    await agent.stop();
    r.close();
  }
});

test.run();

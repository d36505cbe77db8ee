// Attacks on the collector (dist/phoenix-ga-receiver.js) by hostile peers, with real supervisors:
// a datagram captured during an earlier boot and replayed, and a VM that uses its own valid key to
// print lines about another VM.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'crypto';
import * as dgram from 'dgram';
import * as fs from 'fs';
import { encodeHeartbeat, HeartbeatPayload } from '../../supervisor/heartbeat-packet';
import { startAgent, tempDir, waitFor } from '../helpers/agent';
import { startCollector, writeAgentKey } from './collector-process';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('one datagram replayed from an earlier boot does not silence the VM', async () => {
  const dir = tempDir();
  const key = crypto.randomBytes(32);
  writeAgentKey(`${dir}/vm.key`, key);
  // The earlier boot: the same VM (its state dir), in a mount namespace that shows another boot id.
  fs.writeFileSync(`${dir}/boot_id`, `${crypto.randomUUID()}\n`);
  const tap = dgram.createSocket('udp4');
  const captured: Buffer[] = [];
  tap.on('message', (d) => captured.push(d));
  await new Promise<void>((r) => tap.bind(0, '127.0.0.1', r));
  const earlier = startAgent({
    dir, vmId: 'vm-r', interval: 0.2, heartbeatPort: tap.address().port, keyFile: `${dir}/vm.key`,
    wrap: ['unshare', '-m', '--propagation', 'private', 'sh', '-c', `mount --bind ${dir}/boot_id /proc/sys/kernel/random/boot_id && exec "$0" "$@"`],
  });
  await waitFor('beats of the earlier boot', () => captured.length >= 3, 8000);
  await earlier.stop();
  tap.close();
  const c = await startCollector(dir, { 'vm-r': key });
  const agent = startAgent({ dir, vmId: 'vm-r', interval: 0.2, heartbeatPort: c.udpPort, keyFile: `${dir}/vm.key` });
  try {
    await waitFor('vm-r working', async () => (await c.states())['vm-r'] === 'working', 8000, 50);
    const before = (await c.getJson('/vms')).counters;
    await c.send(captured[captured.length - 1]);
    // Six intervals: every live beat after the replay must still count, and the VM stay working.
    const seen = new Set<string>();
    for (let i = 0; i < 24; i++) { await sleep(50); seen.add((await c.states())['vm-r']); }
    const after = (await c.getJson('/vms')).counters;
    const delta = (k: string) => after[k] - before[k];
    assert.equal([...seen], ['working'], `states after the replay: ${[...seen].join(', ')}; ok +${delta('ok')}, stale-epoch +${delta('stale-epoch')}`);
    assert.is(after['stale-epoch'] - before['stale-epoch'], 1, 'the replay refused');
    assert.ok(after.ok - before.ok >= 5, `live beats after the replay accepted: ${after.ok - before.ok}`);
  } finally {
    await agent.stop();
    c.stop();
  }
});

function payload(worker: Record<string, unknown> = {}, over: Record<string, unknown> = {}): HeartbeatPayload {
  return {
    boot: 'b', interval_ms: 1000, sup: { pid: 1, up_ms: 10, start_ms: 1000, ver: '0.1.0', rss_kb: 1, anon_kb: 1 },
    worker: { state: 'ready', pid: 2, gen: 1, progress_age_ms: 5, rss_kb: 1, anon_kb: 1, ...worker },
    restarts: { total: 0, failures_10m: 0 }, last_exit: null, channel: { kind: 'unix', state: 'listening' }, ...over,
  } as HeartbeatPayload;
}

test('a VM with its own valid key cannot print lines about another VM, nor escape sequences', async () => {
  const dir = tempDir();
  const keys = { 'vm-a': crypto.randomBytes(32), 'vm-b': crypto.randomBytes(32) };
  const c = await startCollector(dir, keys, ['--each']);
  try {
    const at = new Date().toISOString();
    const forged = `\n${at} vm-b working -> silent (no heartbeat for 99 s) worker=ready pid=2 gen=1 restarts=0 seq=9\n`;
    const evil: HeartbeatPayload[] = [
      payload({ state: `ready${forged}` }),
      payload({}, { last_exit: { reason: `crash${forged}`, code: 1, signal: null, ago_ms: 5 } }),
      payload({}, { last_exit: { reason: 'crash', code: 1, signal: `SIG\u001b]0;pwned\u0007`, ago_ms: 5 } }),
      payload({}, { sup: { pid: 1, up_ms: 1, start_ms: 1, ver: `1${forged}\u001b[2J`, rss_kb: 1, anon_kb: 1 } }),
      payload({}, { channel: { kind: 'unix', state: `open${forged}` } }),
    ];
    let seq = 1n;
    for (const p of evil) await c.send(encodeHeartbeat({ vmId: 'vm-a', keyId: 'k1', startCounter: 10n, epoch: 'aaaaaaaaaaaaaaaa', seq: seq++, payload: p }, keys['vm-a']));
    await sleep(300);
    const lines = c.lines.join('\n');
    assert.not.ok(c.lines.some((l) => / vm-b /.test(l)), `a line about vm-b was printed:\n${lines}`);
    assert.not.match(lines, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, 'no control character on stdout');
    const vms = await c.get('/vms');
    const metrics = await c.get('/metrics');
    for (const body of [vms.body, metrics.body]) assert.not.match(body, /vm-b working|\\u001b|\u001b|pwned/);
    const counters = JSON.parse(vms.body).counters;
    assert.is(counters['bad-payload'], evil.length, JSON.stringify(counters));
  } finally {
    c.stop();
  }
});

test.run();

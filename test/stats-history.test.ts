// A full statistics history (10,000 samples written into the run directory as a worker of this
// boot would have left them), served by the real agent: read in pages of bounded size that a
// cursor walks without losing or repeating a sample; a ping on another connection is answered
// while pages are read; the history and the panel's settings survive a worker kill.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { createHistory } from '../agent/stats/history';
import { readCounters } from '../agent/stats/counters';
import { computeSample } from '../agent/stats/sample';
import { createHost } from '../agent/os/host';
import { startAgent, tempDir, waitFor } from './helpers/agent';
import { QgaClient } from './helpers/qga-client';

const FULL = 10_000;
const PAGE_BYTES = 64 * 1024;

async function writeFullHistory(runDir: string): Promise<string> {
  const host = createHost('/');
  const boot = host.read('/proc/sys/kernel/random/boot_id')!.trim();
  fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(runDir, 'stats-config.json'), JSON.stringify({ intervalMs: 3_600_000, capacity: FULL }));
  const a = await readCounters(host, () => 0);
  const b = await readCounters(host, () => 60_000);
  const h = createHistory({ dir: runDir, boot, capacity: FULL, onError: (e) => { throw e; } });
  for (let seq = 1; seq <= FULL; seq++) h.push(computeSample(a, b, seq, Date.now() - (FULL - seq) * 60_000));
  return boot;
}

test('a full history is served in bounded pages that a cursor walks exactly once, across a worker kill', async () => {
  const dir = tempDir();
  const boot = await writeFullHistory(path.join(dir, 'run'));
  const agent = startAgent({ dir, interval: 1, hangTimeout: 10 });
  try {
    const pid = await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    const first = (await c.request('phoenix-get-stats', {})).return;
    assert.equal(first.history, { size: FULL, capacity: FULL, first_seq: 1, last_seq: FULL });
    assert.is(first.boot, boot);
    assert.is(first.more, true);
    assert.ok(first.samples.length > 10 && first.samples.length < 1000, `${first.samples.length} samples in the first page`);

    // Pings on a second connection, all the while: each one is answered.
    const pinger = await QgaClient.connect(agent.sock);
    let pings = 0;
    let walking = true;
    const pinging = (async () => { while (walking) { assert.equal((await pinger.request('guest-ping', {})).return, {}); pings++; } })();

    const seen: number[] = [];
    let since = 0;
    let pages = 0;
    for (;;) {
      c.write(JSON.stringify({ execute: 'phoenix-get-stats', arguments: { since, boot } }));
      const line = await c.nextLine(10_000);
      const r = JSON.parse(line).return;
      pages++;
      assert.ok(line.length < PAGE_BYTES + 64 * 1024, `a reply of ${line.length} bytes`);
      seen.push(...r.samples.map((s: { seq: number }) => s.seq));
      if (!r.more) break;
      since = r.samples[r.samples.length - 1].seq;
    }
    walking = false;
    await pinging;
    assert.equal(seen, Array.from({ length: FULL }, (_, i) => i + 1));
    assert.ok(pages >= 10, `${pages} pages`);
    assert.ok(pings > 0, `no ping answered while ${pages} pages were read`);

    process.kill(pid, 'SIGKILL');
    await waitFor('new worker', () => { const s = agent.state(); return s?.worker.state === 'ready' && s.worker.pid !== pid; }, 5000);
    const c2 = await QgaClient.connect(agent.sock);
    const after = (await c2.request('phoenix-get-stats', { since: FULL - 3, boot })).return;
    assert.equal(after.samples.map((s: { seq: number }) => s.seq), [FULL - 2, FULL - 1, FULL]);
    assert.is(after.more, false);
    assert.is(after.history.capacity, FULL);
    assert.is(after.interval_ms, 3_600_000);
    c.close(); c2.close(); pinger.close();
  } finally {
    await agent.stop();
  }
});

test.run();

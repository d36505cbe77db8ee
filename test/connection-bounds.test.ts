// What a client that misbehaves can cost the worker, over real unix connections: one that never
// reads its replies holds at most about one request's worth of queued bytes (it is paused, not
// buffered without end), and connections beyond the limit push out the one idle the longest
// instead of locking everyone out.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as net from 'net';
import { startAgent } from './helpers/agent';
import { QgaClient } from './helpers/qga-client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssKb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

test('a client that never reads its replies: the worker stops reading from it; memory stays bounded; others are served', async () => {
  const agent = startAgent({ interval: 1, hangTimeout: 30 });
  try {
    const pid = await agent.waitReady();
    const before = rssKb(pid);
    const s = net.connect(agent.sock);
    await new Promise((r) => s.once('connect', r));
    s.pause(); // never reads
    // Replies that fill the link (guest-info is ~3 KB each), then 1 MiB requests that would queue.
    const info = '{"execute":"guest-info"}'.repeat(600);
    const big = `{"execute":"guest-ping","arguments":{"pad":"${'x'.repeat((1 << 20) - 64)}"}}`;
    s.write(info);
    // 120 MiB offered; what the worker does not read stays in this process.
    for (let i = 0; i < 120; i++) s.write(big);
    await sleep(3000);
    const grown = rssKb(pid) - before;
    console.log(`    worker RSS +${(grown / 1024).toFixed(1)} MiB with ${s.writableLength >> 20} MiB left unsent by a client that does not read`);
    assert.ok(grown < 24 * 1024, `worker RSS grew by ${grown} KiB`);
    assert.ok(s.writableLength > 50 << 20, 'the worker kept reading from a client that does not read its replies');
    // Another client is served meanwhile.
    const c = await QgaClient.connect(agent.sock);
    assert.equal(await c.request('guest-ping'), { return: {} });
    c.close();
    s.destroy();
    assert.is(agent.workerPid(), pid);
  } finally {
    await agent.stop();
  }
});

test('connections beyond the limit close the one idle the longest, never lock everyone out', async () => {
  const agent = startAgent({ interval: 1, hangTimeout: 30 });
  try {
    await agent.waitReady();
    const idle: QgaClient[] = [];
    for (let i = 0; i < 16; i++) {
      const c = await QgaClient.connect(agent.sock);
      assert.equal(await c.request('guest-ping'), { return: {} });
      idle.push(c);
      await sleep(5);
    }
    const fresh = await QgaClient.connect(agent.sock);
    assert.equal(await fresh.request('guest-ping'), { return: {} });
    await sleep(200);
    assert.ok(idle[0].closed, 'the connection idle the longest was closed');
    assert.equal(idle.slice(1).filter((c) => c.closed).length, 0);
    for (const c of [...idle, fresh]) c.close();
  } finally {
    await agent.stop();
  }
});

test.run();

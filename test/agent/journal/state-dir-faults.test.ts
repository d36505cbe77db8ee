// The state directory (the journal's home) on a real tmpfs that is read-only or full: the agent
// serves everything, refuses only the commands whose idempotency key needs the journal, says why
// in phoenix-agent-status and in the heartbeat, and recovers once the disk is writable again.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { startAgent, tempDir, waitFor } from '../../helpers/agent';
import { QgaClient } from '../../helpers/qga-client';
import { startReceiver, TestReceiver } from '../../helpers/receiver';
import { readHeader } from '../../../supervisor/heartbeat-packet';
import { tinyFs } from '../../helpers/tiny-fs';

const mutate = (file: string, tag: string, key?: string) =>
  ({ file, tag, ...(key ? { 'idempotency-key': key } : {}) });
const runs = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

/** The payload the agent sent in its authentic datagrams (the collector keeps only the fields it knows). */
const sentPayloads = (r: TestReceiver): Array<Record<string, unknown>> => r.datagrams.flatMap((d) => {
  const h = readHeader(d);
  return h.ok ? [JSON.parse(d.toString('utf8', h.payloadStart, h.payloadEnd))] : [];
});

const S = suite('state directory faults');

S('read-only: served, recorded outcomes answered, new keyed commands refused with the reason, recovered after remount', async () => {
  const dir = tempDir();
  const count = path.join(dir, 'runs');
  const state = tinyFs(1024, path.join(dir, 'state'));
  const r = await startReceiver(dir);
  const opts = { dir, interval: 0.2, hangTimeout: 10, testCommands: true, heartbeatPort: r.port, keyFile: r.keyFile };
  let agent = startAgent(opts);
  try {
    await agent.waitReady();
    let c = await QgaClient.connect(agent.sock);
    assert.equal((await c.request('phoenix-test-mutate', mutate(count, 'a', 'k-a'))).return, { ran: 'a' });
    c.close();
    await agent.stop();
    state.readOnly(true);
    agent = startAgent(opts);
    await agent.waitReady(8000);
    c = await QgaClient.connect(agent.sock);
    assert.equal((await c.request('guest-ping')).return, {});
    assert.equal((await c.request('phoenix-test-mutate', mutate(count, 'a', 'k-a'))).return, { ran: 'a' }, 'the recorded outcome is answered');
    const refused = await c.request('phoenix-test-mutate', mutate(count, 'b', 'k-b'));
    assert.match(refused.error?.desc ?? JSON.stringify(refused), /^phoenix-test-mutate was not run: its idempotency key needs the journal, which is unavailable: .*read-only/);
    assert.equal((await c.request('phoenix-test-mutate', mutate(count, 'c'))).return, { ran: 'c' }, 'without a key it runs');
    assert.equal(runs(count), ['a', 'c']);
    const st = (await c.request('phoenix-agent-status')).return;
    assert.is(st.journal, 'read-only');
    assert.match(st.journal_reason, /EROFS/);
    assert.ok(r.beats.length > 0, 'the collector accepts these beats');
    r.datagrams.length = 0;
    await waitFor('a beat that says so', () => sentPayloads(r).find((p) => p.journal === 'read-only'), 3000);
    assert.is(agent.workerPid(), st.worker.pid, 'one worker: no crash loop');
    state.readOnly(false);
    assert.equal((await c.request('phoenix-test-mutate', mutate(count, 'b', 'k-b'))).return, { ran: 'b' }, 'writable again: it runs');
    assert.is((await c.request('phoenix-agent-status')).return.journal, undefined);
    r.datagrams.length = 0;
    await waitFor('beats without the field', () => { const p = sentPayloads(r); return p.length && !('journal' in p[p.length - 1]); }, 3000);
    c.close();
  } finally {
    await agent.stop();
    r.close();
    state.cleanup();
  }
});

S('full: keyed commands refused as no-space before they run, the rest served; room again and they run', async () => {
  const dir = tempDir();
  const count = path.join(dir, 'runs');
  const state = tinyFs(256, path.join(dir, 'state'));
  state.fill();
  const agent = startAgent({ dir, interval: 0.2, hangTimeout: 10, testCommands: true });
  try {
    await agent.waitReady(8000);
    const c = await QgaClient.connect(agent.sock);
    assert.equal((await c.request('guest-ping')).return, {});
    const refused = await c.request('phoenix-test-mutate', mutate(count, 'a', 'k-a'));
    assert.match(refused.error?.desc ?? JSON.stringify(refused), /was not run: .*(no-space|ENOSPC)/);
    assert.equal(runs(count), []);
    const st = (await c.request('phoenix-agent-status')).return;
    assert.is(st.journal, 'no-space');
    state.unfill();
    assert.equal((await c.request('phoenix-test-mutate', mutate(count, 'a', 'k-a'))).return, { ran: 'a' });
    assert.equal(runs(count), ['a']);
    c.close();
  } finally {
    await agent.stop();
    state.cleanup();
  }
});

S.run();

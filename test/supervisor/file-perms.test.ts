// Files that steer a root daemon must be root's: a config file that another user could have
// written is refused at start (it names the paths root writes to), and a heartbeat key that
// another user owns or can read is not used (heartbeats off, the agent serves).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { startAgent, tempDir, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { startReceiver } from '../helpers/receiver';

const exitOf = (a: ReturnType<typeof startAgent>, ms = 4000) =>
  Promise.race([new Promise((r) => a.proc.once('exit', (code) => r(code))), new Promise((r) => setTimeout(() => r('still running'), ms))]);

test('a config file writable by group or others, or owned by another user, is refused with one line naming it', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root to chown (CI is root)');
  const uid = 20000 + crypto.randomInt(20000);
  for (const [mode, owner, want] of [
    [0o666, 0, /is writable by group or others \(mode 666\)/],
    [0o620, 0, /is writable by group or others \(mode 620\)/],
    [0o644, uid, new RegExp(`is owned by uid ${uid}, not root`)],
  ] as const) {
    const dir = tempDir();
    const conf = path.join(dir, 'phoenix-ga.conf');
    fs.writeFileSync(conf, 'stats-interval = 30\n');
    fs.chmodSync(conf, mode);
    fs.chownSync(conf, owner, owner);
    const a = startAgent({ dir, args: ['--config', conf] });
    const code = await exitOf(a);
    await a.stop();
    assert.is(code, 2, `mode ${mode.toString(8)} uid ${owner}: exit ${code}; ${a.output().slice(-300)}`);
    const lines = a.output().trim().split('\n');
    assert.is(lines.length, 1, a.output());
    assert.match(lines[0], new RegExp(`^phoenix-ga: config file ${conf} `));
    assert.match(lines[0], want);
  }
  // Root's, 0644: read as before.
  const dir = tempDir();
  const conf = path.join(dir, 'ok.conf');
  fs.writeFileSync(conf, 'stats-interval = 30\n', { mode: 0o644 });
  const a = startAgent({ dir, args: ['--config', conf] });
  try { await a.waitReady(); } finally { await a.stop(); }
});

test('a heartbeat key owned by another user is not used: one line names it, the agent serves, no beat leaves', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root to chown (CI is root)');
  const dir = tempDir();
  const r = await startReceiver(dir);
  const uid = 20000 + crypto.randomInt(20000);
  fs.chownSync(r.keyFile, uid, uid);
  const a = startAgent({ dir, interval: 0.1, heartbeatPort: r.port, keyFile: r.keyFile });
  try {
    await a.waitReady();
    const c = await QgaClient.connect(a.sock);
    assert.equal((await c.request('guest-ping')).return, {});
    c.close();
    await waitFor('the reason', () => /heartbeats are off: .*heartbeat\.key is owned by uid \d+, not root/.test(a.output()), 2000);
    await new Promise((res) => setTimeout(res, 500));
    assert.is(r.datagrams.length, 0, 'no heartbeat under a key another user holds');
  } finally {
    await a.stop();
    r.close();
  }
});

test.run();

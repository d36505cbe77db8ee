// A freeze meets a full run directory (a real tmpfs of a few pages, filled up): the supervisor
// cannot make its record of the freeze durable, so nothing is frozen, the supervisor lives on and
// the agent keeps serving. A real ext4 on a loop device is the file system asked to freeze.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { startAgent, tempDir, waitFor } from '../helpers/agent';
import { loopFs, writes } from '../helpers/loop-fs';
import { QgaClient } from '../helpers/qga-client';
import { tinyFs } from '../helpers/tiny-fs';

const F = suite('freeze with a full run directory');

F('no record, no freeze: the request is refused, the disk stays writable, the supervisor lives and serves', async () => {
  const l = loopFs();
  const dir = tempDir();
  const run = tinyFs(64, path.join(dir, 'run'));
  const agent = startAgent({ dir, interval: 0.2, hangTimeout: 20 });
  try {
    const pid = await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    run.fill();
    const r = await c.request('guest-fsfreeze-freeze-list', { mountpoints: [l.mnt] }, 8000).catch((e: Error) => ({ lost: e.message }));
    assert.ok(r.error, `the freeze is refused, got ${JSON.stringify(r)}`);
    assert.match(r.error.desc, /not frozen.*could not record the freeze.*ENOSPC/);
    assert.is(await writes(l.mnt, 3000), true, 'the file system was never frozen');
    assert.is(agent.proc.exitCode, null, `the supervisor is alive; output:\n${agent.output().slice(-1500)}`);
    assert.is((await c.request('guest-fsfreeze-status')).return, 'thawed');
    assert.equal((await c.request('guest-ping')).return, {});
    assert.ok(!fs.existsSync(path.join(run.dir, 'frozen.json')), 'no half record left');
    // The full run directory also fails every state write of a worker restart: the supervisor lives on.
    process.kill(pid, 'SIGKILL');
    await waitFor('a new worker answers', async () => {
      try { const c2 = await QgaClient.connect(agent.sock); const p = await c2.request('guest-ping', undefined, 1000); c2.close(); return p.return; } catch { return null; }
    }, 8000, 100);
    assert.is(agent.proc.exitCode, null, 'the supervisor is alive after a restart with a full run directory');
    assert.match(agent.output(), /cannot record the freeze of .*: ENOSPC/);
    assert.match(agent.output(), /cannot write state: ENOSPC/);
    // With room again, the same request freezes for real and the thaw releases it.
    run.unfill();
    const c3 = await QgaClient.connect(agent.sock);
    assert.is((await c3.request('guest-fsfreeze-freeze-list', { mountpoints: [l.mnt] }, 8000)).return, 1);
    assert.is(await writes(l.mnt, 800), false, 'frozen now');
    assert.ok(fs.existsSync(path.join(run.dir, 'frozen.json')), 'the record is there while frozen');
    assert.is((await c3.request('guest-fsfreeze-thaw', undefined, 8000)).return, 1);
    assert.is(await writes(l.mnt, 3000), true);
    c.close();
    c3.close();
  } finally {
    await agent.stop();
    l.cleanup();
    run.cleanup();
  }
});

F.run();

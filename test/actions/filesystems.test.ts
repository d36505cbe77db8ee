// fsfreeze and fstrim on a real ext4 file system (a loop device), and guest-exec.
import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { fstrim } from '../../agent/actions/filesystems';
import { createHost } from '../../agent/os/host';
import { createSystem } from '../../agent/os/system';
import { startAgent, tempDir, waitFor } from '../helpers/agent';
import { loopFs, writes } from '../helpers/loop-fs';
import { QgaClient } from '../helpers/qga-client';

const F = suite('fsfreeze');
F('freeze-list freezes for real, only freeze-safe commands run meanwhile, thaw releases the writer', async () => {
  const l = loopFs();
  const agent = startAgent({ interval: 0.2, hangTimeout: 20 });
  try {
    await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    assert.is((await c.request('guest-fsfreeze-status')).return, 'thawed');
    assert.match((await c.request('guest-fsfreeze-freeze-list', { mountpoints: ['/nonexistent'] })).error.desc, /not a local file system mount point/);
    assert.is((await c.request('guest-fsfreeze-freeze-list', { mountpoints: [l.mnt] })).return, 1);
    assert.is((await c.request('guest-fsfreeze-status')).return, 'frozen');
    const blocked = writes(l.mnt, 60_000);
    assert.is(await writes(l.mnt, 800), false, 'a write blocks while frozen');
    assert.equal((await c.request('guest-ping')).return, {});
    assert.equal((await c.request('phoenix-set-hostname', { hostname: 'x' })).error, { class: 'CommandNotFound', desc: 'Command phoenix-set-hostname has been disabled: the agent is in frozen state' });
    assert.is((await c.request('guest-fsfreeze-thaw')).return, 1);
    assert.is(await blocked, true, 'the blocked writer finished after the thaw');
    assert.is((await c.request('guest-fsfreeze-status')).return, 'thawed');
    c.close();
  } finally {
    await agent.stop();
    l.cleanup();
  }
});

F('the deadline thaws when the host never does', async () => {
  const l = loopFs();
  const agent = startAgent({ interval: 0.2, hangTimeout: 20, args: ['--freeze-timeout', '1.5'] });
  try {
    await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    assert.is((await c.request('guest-fsfreeze-freeze-list', { mountpoints: [l.mnt] })).return, 1);
    assert.is(await writes(l.mnt, 500), false);
    await waitFor('auto thaw', async () => (await c.request('guest-fsfreeze-status')).return === 'thawed', 5000, 200);
    assert.is(await writes(l.mnt, 2000), true);
    c.close();
  } finally {
    await agent.stop();
    l.cleanup();
  }
});

F('a worker killed while frozen: the supervisor thaws at once', async () => {
  const l = loopFs();
  const agent = startAgent({ interval: 0.2, hangTimeout: 20 });
  try {
    const pid = await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    assert.is((await c.request('guest-fsfreeze-freeze-list', { mountpoints: [l.mnt] })).return, 1);
    process.kill(pid, 'SIGKILL');
    assert.is(await writes(l.mnt, 3000), true, 'thawed by the supervisor');
    await waitFor('log line', () => /thawed .* \(worker \d+ died while they were frozen\)/.test(agent.output()), 3000);
    c.close();
  } finally {
    await agent.stop();
    l.cleanup();
  }
});

F('a stopped worker while frozen: the supervisor thaws when it kills it as hung', async () => {
  const l = loopFs();
  const agent = startAgent({ interval: 0.2, hangTimeout: 1 });
  try {
    const pid = await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    assert.is((await c.request('guest-fsfreeze-freeze-list', { mountpoints: [l.mnt] })).return, 1);
    process.kill(pid, 'SIGSTOP');
    assert.is(await writes(l.mnt, 8000), true);
    c.close();
  } finally {
    await agent.stop();
    l.cleanup();
  }
});
F.run();

test('guest-fstrim trims a real ext4 file system', async () => {
  const l = loopFs();
  try {
    fs.writeFileSync(path.join(l.mnt, 'big'), Buffer.alloc(8 << 20, 1));
    fs.rmSync(path.join(l.mnt, 'big'));
    execFileSync('sync');
    // The host door reads the mount table of a tree holding only this mount (so / is not trimmed).
    const root = tempDir('trim-');
    fs.mkdirSync(path.join(root, 'proc/self'), { recursive: true });
    const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((x) => x.includes(` ${l.mnt} `))!;
    fs.writeFileSync(path.join(root, 'proc/self/mountinfo'), line + '\n');
    const r = await fstrim(createSystem('/'), createHost(root), undefined);
    assert.is(r.paths.length, 1);
    assert.is(r.paths[0].path, l.mnt);
    assert.ok(typeof r.paths[0].trimmed === 'number' && (r.paths[0].trimmed as number) > 0, JSON.stringify(r));
  } finally {
    l.cleanup();
  }
});

const E = suite('guest-exec');
E('blocked by default: CommandNotFound, as a disabled command', async () => {
  const agent = startAgent({ interval: 0.5 });
  try {
    await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    assert.equal((await c.request('guest-exec', { path: '/bin/true' })).error, { class: 'CommandNotFound', desc: 'Command guest-exec has been disabled' });
    c.close();
  } finally {
    await agent.stop();
  }
});

E('enabled by the operator: output, input, exit status, capture modes, qemu-ga errors', async () => {
  const agent = startAgent({ interval: 0.5, args: ['--block-rpcs', ''] });
  try {
    await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    const run = async (args: Record<string, unknown>) => {
      const { pid } = (await c.request('guest-exec', args)).return;
      return waitFor('exit', async () => { const s = (await c.request('guest-exec-status', { pid })).return; return s.exited && { ...s, pid }; }, 5000, 20);
    };
    const echo = await run({ path: 'sh', arg: ['-c', 'echo out; echo err >&2; exit 3'], 'capture-output': true });
    assert.equal({ ...echo, pid: 0 }, { exited: true, exitcode: 3, 'out-data': Buffer.from('out\n').toString('base64'), 'out-truncated': false, 'err-data': Buffer.from('err\n').toString('base64'), 'err-truncated': false, pid: 0 });
    assert.equal((await c.request('guest-exec-status', { pid: echo.pid })).error.desc, "Invalid parameter 'pid'", 'forgotten once reported');
    const cat = await run({ path: '/bin/cat', 'input-data': Buffer.from('hello').toString('base64'), 'capture-output': 'merged' });
    assert.is(Buffer.from(cat['out-data'], 'base64').toString(), 'hello');
    const killed = await run({ path: '/bin/sh', arg: ['-c', 'kill -9 $$'] });
    assert.is(killed.signal, 9);
    assert.match((await c.request('guest-exec', { path: '/no/such/program' })).error.desc, /Failed to execute child process/);
    c.close();
  } finally {
    await agent.stop();
  }
});
E.run();

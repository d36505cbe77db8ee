// The panel's client against the real agent, against Debian's qemu-ga (it is a faithful qemu-ga
// client), through worker deaths, and against a hostile fake agent.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { AgentClient, AgentError } from '../../panel/agent-client';
import { ROOT, startAgent, tempDir } from '../helpers/agent';
import { startQemuGa } from '../helpers/qemu-ga';
import { makeTree } from '../helpers/root-tree';

test('against phoenix-ga: resync, commands, an error reply as an AgentError', async () => {
  const agent = startAgent({ interval: 0.5 });
  try {
    await agent.waitReady();
    const c = new AgentClient({ path: agent.sock });
    assert.equal(await c.call('guest-ping'), {});
    assert.ok(((await c.call('guest-info')) as { supported_commands: unknown[] }).supported_commands.length > 30);
    await c.call('nope').then(() => assert.unreachable(), (e: AgentError) => { assert.is(e.cls, 'CommandNotFound'); });
    assert.is(c.stats.resyncs, 1);
    c.close();
  } finally {
    await agent.stop();
  }
});

test('against qemu-ga: the same client works unchanged', async () => {
  const q = await startQemuGa();
  try {
    const c = new AgentClient({ path: q.sock });
    assert.equal(await c.call('guest-ping'), {});
    assert.is(((await c.call('guest-get-host-name')) as { 'host-name': string })['host-name'], require('os').hostname());
    c.close();
  } finally {
    q.stop();
  }
});

test('the worker killed mid-command: the client reconnects, resyncs and gets its answer', async () => {
  const agent = startAgent({ interval: 0.2, hangTimeout: 10, testCommands: true });
  try {
    const pid = await agent.waitReady();
    const c = new AgentClient({ path: agent.sock });
    await c.call('guest-ping');
    const slow = c.call('phoenix-test-block', { ms: 1500 }, { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 300));
    process.kill(pid, 'SIGKILL');
    assert.equal(await slow, {}, 'the retry on the new worker answered');
    assert.ok(c.stats.resyncs >= 2);
    c.close();
  } finally {
    await agent.stop();
  }
});

test('a mutating command retried after a worker death keeps its idempotency key: it runs once', async () => {
  const dir = tempDir();
  const agent = startAgent({ dir, interval: 0.2, hangTimeout: 10, testCommands: true, args: ['--state-dir', `${dir}/state`, '--test-crash-at', 'done:phoenix-test-mutate'] });
  try {
    await agent.waitReady();
    const c = new AgentClient({ path: agent.sock });
    const r = await c.call('phoenix-test-mutate', { file: `${dir}/runs`, tag: 'x' }, { mutating: true, timeoutMs: 3000 });
    assert.equal(r, { ran: 'x' });
    assert.is(fs.readFileSync(`${dir}/runs`, 'utf8'), 'x\n', 'killed after recording "done": the retry got the recorded result');
    assert.ok(c.stats.retries >= 1);
    c.close();
  } finally {
    await agent.stop();
  }
});

test('a hostile agent: garbage, stale ids and a 20 MB line do not crash the client', async () => {
  const dir = tempDir();
  const sock = path.join(dir, 'evil.sock');
  let mode = 0;
  const server = net.createServer((s) => {
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      const sync = /"guest-sync-delimited","arguments":\{"id":(\d+)\}/.exec(buf);
      const cmd = /"execute":"(guest-ping)"[^}]*"id":"([0-9a-f]+)"/.exec(buf);
      if (sync) {
        buf = buf.replace(sync[0], '');
        s.write(Buffer.from(`garbage\n{"return":1}\n\x00\x01\n{"error":{}}\n\xff{"return":${sync[1]}}\n`, 'latin1'));
      } else if (cmd) {
        buf = '';
        if (mode++ === 0) s.write(Buffer.alloc(20 << 20, 0x61)); // no newline: over the reply cap
        else s.write(`{"return":"stale","id":"0000"}\n[1,2]\nnot json\n{"return":{"ok":true},"id":"${cmd[2]}"}\n`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    const c = new AgentClient({ path: sock });
    const first = await c.call('guest-ping', undefined, { timeoutMs: 1500 }).catch((e) => e);
    assert.ok(c.stats.oversized >= 1, `${JSON.stringify(c.stats)} ${first}`);
    assert.equal(await c.call('guest-ping', undefined, { timeoutMs: 3000 }), { ok: true });
    assert.ok(c.stats.discarded >= 5, `discarded ${c.stats.discarded}`);
    c.close();
  } finally {
    server.close();
  }
});

test('phoenix-ga-ctl: human and JSON output; the password comes on stdin, never in argv', async () => {
  const dir = tempDir();
  const tree = makeTree();
  const agent = startAgent({ dir, interval: 0.5, args: ['--os-root', tree.root, '--state-dir', `${dir}/state`] });
  try {
    await agent.waitReady();
    const ctl = (args: string[], input?: string) => spawnSync(process.execPath, [path.join(ROOT, 'dist/phoenix-ga-ctl.js'), '--socket', agent.sock, ...args], { encoding: 'utf8', input });
    assert.is(ctl(['ping']).stdout, 'the agent answers\n');
    assert.match(ctl(['status']).stdout, /^phoenix-ga .*: supervisor \d+, worker ready/);
    assert.is(JSON.parse(ctl(['--json', 'osinfo']).stdout).id, 'debian');
    const hash = spawnSync('openssl', ['passwd', '-6', '-salt', 'abcdefgh', 'from stdin'], { encoding: 'utf8' }).stdout.trim();
    const r = ctl(['set-password', 'alice', '--crypted'], hash + '\n');
    assert.is(r.status, 0, r.stderr);
    assert.ok(tree.read('/etc/shadow').includes(`alice:${hash}:`));
    const bad = ctl(['set-password', 'nosuchuser'], 'pw\n');
    assert.is(bad.status, 1);
    assert.match(bad.stderr, /GenericError: user 'nosuchuser' does not exist/);
    assert.is(ctl(['bogus']).status, 2);
    const journal = fs.readFileSync(`${dir}/state/journal/journal.jsonl`, 'utf8');
    assert.match(journal, /"key":"ctl-[A-Za-z0-9_-]+","cmd":"guest-set-user-password"/);
  } finally {
    await agent.stop();
  }
});

test.run();

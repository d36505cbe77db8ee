// The panel's client against the real agent, against Debian's qemu-ga (it is a faithful qemu-ga
// client), through worker deaths, and against hostile fake agents on a unix socket: a newline
// flood, a deeply nested reply, replies over each limit, escape sequences, silence.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { AgentClient, AgentError, AgentProtocolError } from '../../panel/agent-client';
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

/**
 * A fake agent on a unix socket that answers guest-sync-delimited and then does WHAT to each
 * command: a hostile peer, as a guest's root can make the real one.
 */
async function hostileAgent(what: (s: net.Socket, id: string, cmd: string) => void, opts: { sync?: boolean } = {}): Promise<{ sock: string; close(): void }> {
  const sock = path.join(tempDir(), 'evil.sock');
  const conns = new Set<net.Socket>();
  const server = net.createServer((s) => {
    conns.add(s);
    s.on('error', () => { /* the client hung up */ });
    s.on('close', () => conns.delete(s));
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (let nl; (nl = buf.indexOf('\n')) >= 0; buf = buf.slice(nl + 1)) {
        const line = buf.slice(0, nl).replace(/^\xff/, '');
        const sync = /"guest-sync-delimited","arguments":\{"id":(\d+)\}/.exec(line);
        const cmd = /"execute":"([a-z-]+)".*"id":"([0-9a-f]+)"/.exec(line);
        if (sync && opts.sync !== false) s.write(`\xff{"return":${sync[1]}}\n`, 'latin1');
        else if (cmd) what(s, cmd[2], cmd[1]);
      }
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  return { sock, close: () => { for (const c of conns) c.destroy(); server.close(); } };
}

/** Runs dist/phoenix-ga-ctl.js; follows its peak memory (VmHWM) and kills it past 400 MiB or 20 s. */
function runCtl(args: string[]): Promise<{ code: number | null; stdout: Buffer; stderr: Buffer; peakKiB: number; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const p = spawn(process.execPath, [path.join(ROOT, 'dist/phoenix-ga-ctl.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout!.on('data', (d) => out.push(d));
    p.stderr!.on('data', (d) => err.push(d));
    let peakKiB = 0;
    const watch = setInterval(() => {
      try { peakKiB = Math.max(peakKiB, Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p.pid}/status`, 'utf8'))![1])); } catch { /* exited */ }
      if (peakKiB > 400 << 10 || Date.now() - t0 > 20_000) p.kill('SIGKILL');
    }, 20);
    p.on('close', (code) => { clearInterval(watch); resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err), peakKiB, ms: Date.now() - t0 }); });
  });
}

test('a hostile agent that answers the sync and then writes newlines forever: the client stays small and gives up', async () => {
  const nl = Buffer.alloc(64 << 10, 0x0a);
  const evil = await hostileAgent((s) => { const pump = () => { while (!s.destroyed && s.write(nl)); }; s.on('drain', pump); pump(); });
  try {
    const r = await runCtl(['--socket', evil.sock, '--timeout', '4', 'ping']);
    assert.is(r.code, 3, `exit ${r.code}, peak RSS ${r.peakKiB} KiB, ${r.ms} ms: ${r.stderr}`);
    assert.match(r.stderr.toString(), /^phoenix-ga-ctl: the agent sent more than 1024 lines that were not the reply; disconnected\n$/);
    assert.ok(r.peakKiB < 80 << 10, `peak RSS ${r.peakKiB} KiB`);
    assert.ok(r.ms < 4000, `${r.ms} ms`);
  } finally {
    evil.close();
  }
});

test('a 10 MB deeply nested reply is refused while it arrives, before it is held or parsed', async () => {
  const n = 5_000_000;
  const evil = await hostileAgent((s, id) => s.write(`{"id":"${id}","return":${'['.repeat(n)}${']'.repeat(n)}}\n`));
  try {
    const r = await runCtl(['--socket', evil.sock, '--timeout', '5', 'ping']);
    assert.is(r.code, 3, `exit ${r.code}, peak RSS ${r.peakKiB} KiB, ${r.ms} ms: ${r.stderr}`);
    assert.match(r.stderr.toString(), /the agent's reply was refused: nested deeper than 64/);
    assert.ok(r.peakKiB < 80 << 10, `peak RSS ${r.peakKiB} KiB`);
  } finally {
    evil.close();
  }
  // In the library: over the size, container and value limits too, each named, then a disconnect.
  const cases: Array<[string, RegExp]> = [
    [`{"return":"${'a'.repeat(17 << 20)}"}`, /longer than 16777216 bytes/],
    [`{"return":[${'{},'.repeat(300_000)}{}]}`, /more than 250000 arrays and objects/],
    [`{"return":[${'0,'.repeat(2_100_000)}0]}`, /more than 2000000 values/],
  ];
  for (const [reply, want] of cases) {
    let conns = 0;
    const e2 = await hostileAgent((s, id) => { s.write(conns === 1 ? reply : `{"return":"fine","id":"${id}"}\n`); });
    const c = new AgentClient({ path: e2.sock });
    try {
      const before = process.memoryUsage().rss;
      conns = 1;
      await c.call('guest-ping', undefined, { timeoutMs: 5000 }).then(() => assert.unreachable(), (e: Error) => {
        assert.instance(e, AgentProtocolError);
        assert.match(e.message, want);
      });
      assert.ok(process.memoryUsage().rss - before < 48 << 20, 'nothing big was held');
      assert.is(c.stats.oversized, 1);
      conns = 2;
      assert.is(await c.call('guest-ping', undefined, { timeoutMs: 2000 }), 'fine', 'a new connection, a new sync');
      assert.is(c.stats.resyncs, 2);
    } finally {
      c.close();
      e2.close();
    }
  }
});

test('garbage, stale ids and blank lines are skipped; between calls nothing is read', async () => {
  let calls = 0;
  const junk = Buffer.from('{"junk":1}\n'.repeat(200_000));
  const evil = await hostileAgent((s, id) => {
    if (calls++ === 0) s.write(`garbage\n{"return":1}\n\x00\x01\n\n[1,2]\nnot json\n{"return":"stale","id":"0000"}\n{"return":{"ok":true},"id":"${id}"}\n`);
    else s.write(`{"return":2,"id":"${id}"}\n`);
    // After its reply, the agent keeps writing: 2.2 MB the client must not take in while idle.
    if (calls === 1) s.write(junk);
  });
  const c = new AgentClient({ path: evil.sock });
  try {
    assert.equal(await c.call('guest-ping', undefined, { timeoutMs: 3000 }), { ok: true });
    assert.is(c.stats.discarded, 7);
    await new Promise((r) => setTimeout(r, 500));
    const read = (c as unknown as { sock: net.Socket }).sock.bytesRead;
    assert.ok(read < 512 << 10, `read ${read} bytes while no call waited`);
    // The next call meets the backlog: far more than a call can need, so it disconnects and retries.
    assert.is(await c.call('guest-ping', undefined, { timeoutMs: 3000 }), 2);
    assert.is(c.stats.retries, 1);
  } finally {
    c.close();
    evil.close();
  }
});

test('escape sequences from the guest never reach the terminal (phoenix-ga-ctl, human and --json)', async () => {
  const evil = '\u001b]0;pwned\u0007\u001b[2J\u009b31m\u202eevil\r\nphoenix-ga-ctl: forged';
  const agent = await hostileAgent((s, id, cmd) => {
    if (cmd === 'guest-ping') s.write(`{"error":{"class":"GenericError","desc":${JSON.stringify(evil)}},"id":"${id}"}\n`);
    else if (cmd === 'phoenix-agent-status') s.write(`{"return":{"sup":{"pid":1,"ver":${JSON.stringify(evil)}},"worker":{"state":"ready","pid":2,"gen":1},"restarts":{"total":0},"last_exit":null,"channel":{"kind":"unix","state":${JSON.stringify(evil)}}},"id":"${id}"}\n`);
    else s.write(`{"return":{"host-name":${JSON.stringify(evil)}},"id":"${id}"}\n`);
  });
  try {
    for (const args of [['ping'], ['status'], ['call', 'guest-get-host-name'], ['--json', 'ping'], ['--json', 'call', 'guest-get-host-name']]) {
      const r = await runCtl(['--socket', agent.sock, ...args]);
      const all = Buffer.concat([r.stdout, r.stderr]).toString('utf8');
      assert.not.match(all, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/, `${args.join(' ')}: ${JSON.stringify(all)}`);
      assert.ok(all.split('\n').filter((l) => l.startsWith('phoenix-ga-ctl:')).length <= 1, `${args.join(' ')}: one line of ours at most`);
      if (args.includes('--json')) JSON.parse(r.stdout.length ? r.stdout.toString() : r.stderr.toString());
    }
    const r = await runCtl(['--socket', agent.sock, 'ping']);
    assert.is(r.stderr.toString(), 'phoenix-ga-ctl: GenericError: \\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u202eevil\\r\\nphoenix-ga-ctl: forged\n');
  } finally {
    agent.close();
  }
});

test('--timeout is the whole call: a dead agent and a stopped worker end in about that time', async () => {
  const dead = await hostileAgent(() => { /* never answers */ }, { sync: false });
  try {
    const r = await runCtl(['--socket', dead.sock, '--timeout', '1', 'ping']);
    assert.is(r.code, 3, `exit ${r.code} after ${r.ms} ms: ${r.stderr}`);
    assert.is(r.stderr.toString(), 'phoenix-ga-ctl: no reply within 1000 ms\n', `after ${r.ms} ms`);
    assert.ok(r.ms < 1900, `${r.ms} ms`);
  } finally {
    dead.close();
  }
  const agent = startAgent({ interval: 0.5, hangTimeout: 30 });
  try {
    const pid = await agent.waitReady();
    process.kill(pid, 'SIGSTOP');
    const r = await runCtl(['--socket', agent.sock, '--timeout', '0.5', 'set-hostname', 'x']);
    assert.is(r.stderr.toString(), 'phoenix-ga-ctl: no reply within 500 ms\n');
    assert.ok(r.ms < 1400, `${r.ms} ms`);
    process.kill(pid, 'SIGCONT');
    assert.is((await runCtl(['--socket', agent.sock, '--timeout', 'soon', 'ping'])).code, 2, 'a timeout that is not a number');
  } finally {
    await agent.stop();
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
    assert.match(ctl(['status']).stdout, /^phoenix-ga .*: supervisor \d+, worker ready.*, clock healing off$/m);
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

// Zero-touch provisioning, for real: a supervisor started as an installed image starts it (no
// --config, no config file, no key, no heartbeat flags: /etc is an overlay in a private mount
// namespace, so the machine's own /etc is never touched), and the panel gives it everything in one
// phoenix-set-config over the unix channel or a serial port. The panel's receiver library must see
// authentic beats within one interval; epoch and sequence go on across later changes (collector,
// interval, key, VM id); bad values are refused with a precise error and not a byte is written.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChildProcess, execFile, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as dgram from 'dgram';
import * as fs from 'fs';
import * as path from 'path';
import { argsDigest } from '../../agent/journal/exactly-once';
import { AgentClient, AgentError } from '../../panel/agent-client';
import { HeartbeatReceiver, KeyEntry } from '../../panel/heartbeat-receiver';
import { HeartbeatHeader, readHeader } from '../../supervisor/heartbeat-packet';
import type { PersistedState } from '../../supervisor/state-store';
import { cleanEnv, ROOT, SUPERVISOR, tempDir, waitFor } from '../helpers/agent';
import { startedChardevHost } from '../helpers/serial-bridge';

interface Bare { proc: ChildProcess; etc: string; sock: string; stateDir: string; output(): string; waitReady(): Promise<number>; stop(): Promise<void> }

/** The supervisor as an installed image runs it: only where it runs and logs, nothing about heartbeats. */
function startBare(dir: string, channel?: string): Bare {
  const upper = path.join(dir, 'etc-upper'), work = path.join(dir, 'etc-work');
  fs.mkdirSync(upper); fs.mkdirSync(work);
  const sock = path.join(dir, 'agent.sock');
  const script = `mount -t overlay overlay -o lowerdir=/etc,upperdir=${upper},workdir=${work} /etc && exec "$@"`;
  // unshare execs (no --fork): the pid is the supervisor's.
  const proc = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', process.execPath, SUPERVISOR,
    '--channel', channel ?? `unix:${sock}`, '--run-dir', path.join(dir, 'run'), '--state-dir', path.join(dir, 'state'), '--log-file', '-'],
  { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  const state = (): PersistedState | null => { try { return JSON.parse(fs.readFileSync(path.join(dir, 'run/state.json'), 'utf8')); } catch { return null; } };
  return {
    proc, sock, etc: path.join(upper, 'phoenix-ga'), stateDir: path.join(dir, 'state'),
    output: () => out,
    waitReady: () => waitFor('worker ready', () => { const s = state(); return s !== null && s.supervisor.pid === proc.pid && s.worker.state === 'ready' && s.worker.pid; }, 8000)
      .catch((e: Error) => { throw new Error(`${e.message}; output:\n${out.slice(-2000)}`); }),
    async stop() { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM'); await exited; },
  };
}

interface Beat { at: number; ok: boolean; h: HeartbeatHeader }

/** A UDP collector on loopback feeding the panel's receiver library, with the keys of two VM ids. */
async function collector(keys: KeyEntry[], vmIds: string[]): Promise<{ port: number; beats: Beat[]; close(): void }> {
  const r = new HeartbeatReceiver((id) => (vmIds.includes(id) ? keys : undefined));
  const beats: Beat[] = [];
  const s = dgram.createSocket('udp4');
  s.on('message', (d) => {
    const h = readHeader(d);
    if (h.ok) beats.push({ at: Date.now(), ok: r.accept(d).ok, h: h.header });
  });
  await new Promise<void>((res) => s.bind(0, '127.0.0.1', res));
  return { port: s.address().port, beats, close: () => s.close() };
}

const hex = (n = 32) => crypto.randomBytes(n).toString('hex');
const snapshot = (dir: string) => Object.fromEntries(['phoenix-ga.conf', 'heartbeat.key'].map((f) => {
  try { const p = path.join(dir, f); return [f, { bytes: fs.readFileSync(p, 'hex'), ino: fs.statSync(p).ino }]; } catch { return [f, null]; }
}));

test('zero-touch over the unix channel: one set-config, authentic beats within one interval; epoch and sequence go on across changes; bad values change nothing', async () => {
  const dir = tempDir();
  const k1 = hex(), k2 = hex();
  const c = await collector([{ keyId: 'k1', key: Buffer.from(k1, 'hex') }, { keyId: 'k2', key: Buffer.from(k2, 'hex') }], ['vm-zt-1', 'vm-zt-2']);
  const agent = startBare(dir);
  const client = new AgentClient({ path: agent.sock });
  try {
    const pid = await agent.waitReady();
    assert.match(agent.output(), /built-in defaults/);
    assert.match(agent.output(), /heartbeats are off: no collector is configured/);
    assert.not.ok(fs.existsSync(agent.etc), 'the image has no /etc/phoenix-ga');

    const t0 = Date.now();
    const r = await client.call('phoenix-set-config', { heartbeat: `127.0.0.1:${c.port}`, 'key-id': 'k1', 'vm-id': 'vm-zt-1', 'heartbeat-interval': 1, key: k1 }, { mutating: true }) as any;
    await waitFor('a first authentic beat', () => c.beats.some((b) => b.ok), 3000);
    const first = c.beats.find((b) => b.ok)!;
    assert.ok(first.at - t0 <= 1000, `the first beat came ${first.at - t0} ms after the call; the interval is 1000 ms`);
    assert.equal(r.changed.map((x: any) => x.key).sort(), ['heartbeat', 'heartbeat-interval', 'key', 'key-id', 'vm-id']);
    assert.equal(r.changed.find((x: any) => x.key === 'key'), { key: 'key', old: 'not set', new: 'changed' });
    assert.equal(r.changed.find((x: any) => x.key === 'heartbeat'), { key: 'heartbeat', old: 'off', new: `127.0.0.1:${c.port}` });
    assert.is(r.worker_restarted, false);
    assert.equal(r.written, ['/etc/phoenix-ga/heartbeat.key', '/etc/phoenix-ga/phoenix-ga.conf']);

    // The files an installed agent reads at its next start: root's, 0600, the values as written.
    const conf = fs.readFileSync(path.join(agent.etc, 'phoenix-ga.conf'), 'utf8');
    assert.match(conf, new RegExp(`^# set over the channel \\(phoenix-set-config\\) \\S+\\nheartbeat = 127\\.0\\.0\\.1:${c.port}$`, 'm'));
    assert.match(conf, /^vm-id = vm-zt-1$/m);
    assert.match(conf, /^heartbeat-interval = 1$/m);
    assert.is(fs.readFileSync(path.join(agent.etc, 'heartbeat.key'), 'utf8'), `k1 ${k1}\n`);
    for (const f of ['phoenix-ga.conf', 'heartbeat.key']) {
      const st = fs.statSync(path.join(agent.etc, f));
      assert.is(st.mode & 0o777, 0o600, `${f} mode`);
      assert.is(st.uid, 0, `${f} owner`);
    }

    // Later changes: a faster interval, a new key, a new VM id; one epoch and no gap in the sequence.
    const n1 = c.beats.length;
    await client.call('phoenix-set-config', { 'heartbeat-interval': 0.2 }, { mutating: true });
    await waitFor('faster beats', () => c.beats.length >= n1 + 5, 3000);
    const r2 = await client.call('phoenix-set-config', { key: k2, 'key-id': 'k2' }, { mutating: true }) as any;
    assert.equal(r2.changed, [{ key: 'key', old: 'set', new: 'changed' }, { key: 'key-id', old: 'k1', new: 'k2' }]);
    await waitFor('a beat under k2', () => c.beats.some((b) => b.h.keyId === 'k2' && b.ok), 3000);
    await client.call('phoenix-set-config', { 'vm-id': 'vm-zt-2' }, { mutating: true });
    await waitFor('beats of vm-zt-2', () => c.beats.filter((b) => b.h.vmId === 'vm-zt-2' && b.ok).length >= 3, 3000);
    assert.ok(c.beats.every((b) => b.ok), 'every datagram verifies');
    const hs = c.beats.map((b) => b.h);
    assert.ok(hs.every((h) => h.epoch === hs[0].epoch && h.startCounter === hs[0].startCounter), 'one epoch throughout');
    assert.ok(hs.every((h, i) => h.seq === BigInt(i + 1)), `the sequence has no gap: ${hs.map((h) => h.seq).join(',')}`);

    // Refused with a precise error, and not a byte written (same bytes, same inode: no rename either).
    const before = snapshot(agent.etc);
    const refusals: Array<[Record<string, unknown>, RegExp]> = [
      [{ key: k1, 'key-id': 'k 1' }, /^Parameter 'key-id' expected 1 to 32 of A-Z a-z 0-9 \. _ : -, got 'k 1'$/],
      [{ heartbeat: 'collector.example:7070', 'vm-id': 'vm-zt-3' }, /^Parameter 'heartbeat' expected IPv4:PORT or \[IPv6\]:PORT, got 'collector\.example:7070'$/],
      [{ heartbeat: '127.0.0.1:70000' }, /^Parameter 'heartbeat' expected IPv4:PORT or \[IPv6\]:PORT, got '127\.0\.0\.1:70000'$/],
      [{ key: k1.slice(0, 62), 'key-id': 'k3', 'heartbeat-interval': 5 }, /^Parameter 'key' must be 64 to 256 hex digits, an even count \(32 to 128 bytes of key\); got 62$/],
      [{ key: `${k1.slice(0, 63)}g` }, /^Parameter 'key' must be hex digits only/],
      [{ 'heartbeat-interval': 0.01 }, /^Parameter 'heartbeat-interval' expected a number from 0\.05 to 3600, got '0\.01'$/],
    ];
    for (const [args, want] of refusals) {
      const e = await client.call('phoenix-set-config', args, { mutating: true }).catch((x: AgentError) => x) as AgentError;
      assert.instance(e, AgentError, JSON.stringify(args));
      assert.match(e.desc, want);
      assert.not.ok(e.desc.includes(k1.slice(0, 40)), 'no key material in the error');
    }
    assert.equal(snapshot(agent.etc), before, 'the files are untouched');

    // The effective configuration, and where each value came from; of the key only its id.
    const g = await client.call('phoenix-get-config') as any;
    assert.equal(g.keys.heartbeat.value, `127.0.0.1:${c.port}`);
    assert.is(g.keys.heartbeat.from, 'channel');
    assert.match(g.keys.heartbeat.where, /^\/etc\/phoenix-ga\/phoenix-ga\.conf:\d+$/);
    assert.ok(g.keys.heartbeat.set_at);
    assert.equal(g.keys['heartbeat-interval'], { ...g.keys['heartbeat-interval'], value: 0.2, from: 'channel' });
    assert.equal(g.keys['run-dir'], { value: path.join(dir, 'run'), from: 'flag', where: '--run-dir' });
    assert.equal(g.keys['hang-timeout'], { value: 20, from: 'default' });
    assert.equal(g.key, { ...g.key, file: '/etc/phoenix-ga/heartbeat.key', set: true, key_id: 'k2' });
    assert.equal(g.config_file, { path: '/etc/phoenix-ga/phoenix-ga.conf', exists: true });

    // The key in no reply, log line or journal record.
    const journal = fs.readFileSync(path.join(agent.stateDir, 'journal/journal.jsonl'), 'utf8');
    assert.ok(journal.includes('phoenix-set-config'), 'the calls were journaled');
    // The key enters the journal only as the keyed digest (PUBLIC.HMAC): the public part is the other arguments'.
    const firstArgs = { heartbeat: `127.0.0.1:${c.port}`, 'key-id': 'k1', 'vm-id': 'vm-zt-1', 'heartbeat-interval': 1 };
    const recs = journal.trim().split('\n').map((l) => JSON.parse(l)).filter((x) => x.cmd === 'phoenix-set-config' && x.step === 'done');
    assert.is(recs[0].digest.split('.')[0], argsDigest('phoenix-set-config', firstArgs));
    assert.match(recs[0].digest, /^[0-9a-f]{32}\.[0-9a-f]{32}$/);
    for (const k of [k1, k2]) {
      for (const [what, text] of [['log', agent.output()], ['journal', journal], ['get-config', JSON.stringify(g)], ['reply', JSON.stringify(r) + JSON.stringify(r2)]]) {
        assert.not.ok(text.toLowerCase().includes(k.slice(0, 16)), `no key in the ${what}`);
      }
    }
    assert.is(agent.proc.exitCode, null);
    assert.is((await client.call('phoenix-agent-status') as any).worker.pid, pid, 'the same worker throughout');
  } finally {
    client.close();
    await agent.stop();
    c.close();
  }
});

test('zero-touch over a serial port, from phoenix-ga-ctl: the key from stdin, never from argv', async () => {
  const dir = tempDir();
  const key = hex(48);
  const c = await collector([{ keyId: 'p7', key: Buffer.from(key, 'hex') }], ['vm-serial-7']);
  const bridge = await startedChardevHost(dir);
  const agent = startBare(dir, `serial:${bridge.port}`);
  const ctl = (args: string[], input?: string) => new Promise<{ code: number; out: string; err: string }>((resolve) => {
    const p = execFile(process.execPath, [path.join(ROOT, 'dist/phoenix-ga-ctl.js'), '--socket', bridge.hostSock, '--timeout', '10', ...args], (e, out, err) => resolve({ code: e ? (e as any).code : 0, out, err }));
    p.stdin!.end(input ?? '');
  });
  try {
    await agent.waitReady();
    const argv = await ctl(['set-config', `key=${key}`]);
    assert.is(argv.code, 3);
    assert.match(argv.err, /the key is never taken from the command line/);
    assert.not.ok(fs.existsSync(agent.etc), 'nothing written');
    const t0 = Date.now();
    // Each ctl call is a connection of its own to the host side, as QEMU's socket chardev takes them.
    const r = await ctl(['set-config', `heartbeat=127.0.0.1:${c.port}`, 'vm-id=vm-serial-7', 'heartbeat-interval=0.5', '--key-file', '-'], `p7 ${key}\n`);
    assert.is(r.code, 0, r.err);
    await waitFor('a first authentic beat', () => c.beats.some((b) => b.ok), 3000);
    assert.ok(c.beats.find((b) => b.ok)!.at - t0 <= 500 + 1000, 'within one interval of the reply (and the ctl start-up)');
    assert.match(r.out, /^heartbeat: off -> 127\.0\.0\.1:\d+$/m);
    assert.match(r.out, /^key: not set -> changed$/m);
    assert.match(r.out, /applied live; written: \/etc\/phoenix-ga\/heartbeat\.key, \/etc\/phoenix-ga\/phoenix-ga\.conf/);
    assert.not.ok(r.out.includes(key.slice(0, 16)) || agent.output().includes(key.slice(0, 16)));
    await waitFor('beats', () => c.beats.length >= 3, 3000);
    assert.ok(c.beats.every((b) => b.ok && b.h.keyId === 'p7' && b.h.vmId === 'vm-serial-7'));
    const g = await ctl(['get-config']);
    assert.match(g.out, /^heartbeat = 127\.0\.0\.1:\d+ {2}\(channel \/etc\/phoenix-ga\/phoenix-ga\.conf:\d+ at \S+\)$/m);
    assert.match(g.out, /^key: set, key id 'p7' \(\/etc\/phoenix-ga\/heartbeat\.key\)$/m);
    assert.match(g.out, /^channel = serial:\S+ {2}\(flag --channel\)$/m);
  } finally {
    await agent.stop();
    bridge.proc.kill();
    c.close();
  }
});

test.run();

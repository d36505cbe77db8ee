// The collector as a panel uses it, with real supervisors: never-seen VMs, a clean stop shown as
// stopped, one VM, filters, the stream of state changes, refusals by source address, key reload
// on SIGHUP, and start-up errors as one clear line.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { encodeHeartbeat, HeartbeatPayload } from '../../supervisor/heartbeat-packet';
import { cleanEnv, ROOT, startAgent, tempDir, waitFor } from '../helpers/agent';
import { startCollector, writeAgentKey, writeKeys } from './collector-process';

/** Opens GET /events and collects its events until close(). */
function events(port: number, query = '', headers: Record<string, string> = {}): { got: Array<{ id?: string; event: string; data: any }>; close(): void } { // eslint-disable-line @typescript-eslint/no-explicit-any
  const got: Array<{ id?: string; event: string; data: any }> = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  let buf = '';
  const req = http.get({ host: '127.0.0.1', port, path: `/events${query}`, headers }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (d) => {
      buf += d;
      for (let i; (i = buf.indexOf('\n\n')) >= 0; buf = buf.slice(i + 2)) {
        const f = Object.fromEntries(buf.slice(0, i).split('\n').filter((l) => !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
        if (f.event) got.push({ id: f.id, event: f.event, data: JSON.parse(f.data) });
      }
    });
  });
  req.on('error', () => { /* closed by the test */ });
  return { got, close: () => req.destroy() };
}

test('never-seen, working, stopped; /vms/ID, ?state, ?since; the event stream; refusals by source', async () => {
  const dir = tempDir();
  const keys = { 'vm-a': crypto.randomBytes(32), 'vm-n': crypto.randomBytes(32) };
  writeAgentKey(`${dir}/vm-a.key`, keys['vm-a']);
  const c = await startCollector(dir, keys);
  const stream = events(c.httpPort);
  try {
    assert.equal(await c.states(), { 'vm-a': 'never-seen', 'vm-n': 'never-seen' }, 'VMs with a key are listed before any beat');
    assert.match((await c.get('/metrics')).body, /^phoenix_ga_vm_state\{vm="vm-n",state="never-seen"\} 1$/m);
    const rev0 = (await c.getJson('/vms')).rev;
    const agent = startAgent({ dir, vmId: 'vm-a', interval: 0.1, heartbeatPort: c.udpPort, keyFile: `${dir}/vm-a.key` });
    try {
      await waitFor('vm-a working', async () => (await c.states())['vm-a'] === 'working', 8000, 50);
    } finally {
      assert.equal(await agent.stop(), { code: 0, signal: null });
    }
    await waitFor('vm-a stopped', async () => (await c.states())['vm-a'] === 'stopped', 3000, 50);
    await new Promise((r) => setTimeout(r, 700));
    assert.is((await c.states())['vm-a'], 'stopped', 'seven intervals after a clean stop: stopped, not silent');

    const one = await c.getJson('/vms/vm-a');
    assert.is(one.state, 'stopped');
    assert.is(one.payload.stopping, true);
    assert.match(one.reason, /stopped cleanly/);
    assert.is((await c.getJson('/vms/vm-n')).state, 'never-seen');
    assert.is((await c.get('/vms/vm-x')).status, 404);
    assert.is((await c.get('/vms/a%20b')).status, 404);
    assert.equal((await c.getJson('/vms?state=never-seen')).vms.map((v: { vmId: string }) => v.vmId), ['vm-n']);
    const since = await c.getJson(`/vms?since=${rev0}`);
    assert.equal(since.vms.map((v: { vmId: string }) => v.vmId), ['vm-a'], 'only what changed');
    assert.equal((await c.getJson(`/vms?since=${since.rev}`)).vms, []);
    const bad = await c.get('/vms?state=dead');
    assert.is(bad.status, 400);
    assert.match(JSON.parse(bad.body).error, /state: 'dead' is not one of never-seen, working/);
    assert.is((await c.get('/vms?since=-1')).status, 400);
    assert.is((await c.get('/vms/%E0%A4%A')).status, 400, 'a bad escape is a bad request, not a crash');

    assert.equal(stream.got.map((e) => `${e.data.vmId} ${e.data.previous} -> ${e.data.state}`), ['vm-a never-seen -> alive-not-working', 'vm-a alive-not-working -> working', 'vm-a working -> stopped'], 'the first beat is sent while the worker starts');
    assert.equal(stream.got.map((e) => Number(e.id)), stream.got.map((e) => e.data.rev));
    // A client that reconnects with Last-Event-ID gets what it missed; one too far back is told to reset.
    const resumed = events(c.httpPort, '', { 'last-event-id': stream.got[0].id! });
    const filtered = events(c.httpPort, `?state=working&since=0`);
    await waitFor('replayed events', () => resumed.got.length >= 2 && filtered.got.length >= 1, 2000);
    assert.equal(resumed.got.map((e) => e.data.state), ['working', 'stopped']);
    assert.equal(filtered.got.map((e) => e.data.state), ['working']);
    resumed.close();
    filtered.close();

    // Datagrams naming a VM the key file lacks, and one of an old agent: reported with the source.
    const p = { boot: 'b', interval_ms: 1000, sup: { pid: 1, up_ms: 1, start_ms: 1, ver: '0.1.0', rss_kb: 1, anon_kb: 1 }, worker: { state: 'ready', pid: 2, gen: 1, progress_age_ms: 1, rss_kb: 1, anon_kb: 1 }, restarts: { total: 0, failures_10m: 0 }, last_exit: null, channel: { kind: 'unix', state: 'open' } } as HeartbeatPayload;
    const ghost = encodeHeartbeat({ vmId: 'vm-ghost', keyId: 'k1', startCounter: 1n, epoch: 'aaaaaaaaaaaaaaaa', seq: 1n, payload: p }, keys['vm-a']);
    await c.send(ghost);
    await waitFor('a refusal line', () => c.lines.some((l) => l.includes('refused from 127.0.0.1')), 2000);
    assert.ok(c.lines.some((l) => / refused from 127\.0\.0\.1: a VM id not in the key file, 'vm-ghost'$/.test(l)), c.lines.join('\n'));
    const old = Buffer.from(ghost); old[2] = 1;
    await c.send(old);
    await new Promise((r) => setTimeout(r, 200));
    const sources = (await c.getJson('/sources')).sources;
    assert.is(sources[0].address, '127.0.0.1');
    assert.is(sources[0].vmId, 'vm-ghost');
    assert.equal(sources[0].counts, { 'unknown-vm': 1, 'old-version': 1 });
  } finally {
    stream.close();
    c.stop();
  }
});

test('SIGHUP re-reads the key file: a new VM is taken, a broken file keeps the old keys', async () => {
  const dir = tempDir();
  const keys = { 'vm-a': crypto.randomBytes(32), 'vm-b': crypto.randomBytes(32) };
  writeAgentKey(`${dir}/vm-b.key`, keys['vm-b']);
  const c = await startCollector(dir, { 'vm-a': keys['vm-a'] });
  const agent = startAgent({ dir, vmId: 'vm-b', interval: 0.1, heartbeatPort: c.udpPort, keyFile: `${dir}/vm-b.key` });
  try {
    await waitFor('vm-b refused', async () => (await c.getJson('/vms')).counters['unknown-vm'] > 2, 5000, 50);
    writeKeys(c.keyFile, keys);
    c.proc.kill('SIGHUP');
    await waitFor('vm-b working', async () => (await c.states())['vm-b'] === 'working', 5000, 50);
    assert.match(c.stderr(), /2 VM key\(s\) loaded/);
    fs.writeFileSync(c.keyFile, 'vm-a k1 abc   # cut short\n');
    c.proc.kill('SIGHUP');
    await waitFor('the refusal', () => c.stderr().includes('keys not reloaded'), 3000);
    assert.match(c.stderr(), /keys not reloaded, the old ones stay: .*collector\.keys line 1: the key is not 64 to 256 hex digits/);
    await new Promise((r) => setTimeout(r, 400));
    assert.is((await c.states())['vm-b'], 'working');
  } finally {
    await agent.stop();
    c.stop();
  }
});

test('start-up errors are one clear line, never a stack trace', () => {
  const dir = tempDir();
  const hex = crypto.randomBytes(32).toString('hex');
  fs.writeFileSync(`${dir}/bad.keys`, `# panel keys\nvm-1 k1 ${hex}\nvm-2 k1 ${hex.slice(2)}\n`);
  fs.writeFileSync(`${dir}/good.keys`, `vm-1 k1 ${hex}\n`);
  const run = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'dist/phoenix-ga-receiver.js'), ...args], { encoding: 'utf8', env: cleanEnv(), timeout: 5000 });
  const rows: Array<[string[], number, RegExp]> = [
    [['--listen', '127.0.0.1:9', '--keys', `${dir}/missing.keys`], 2, /^phoenix-ga-receiver: --keys: .*missing\.keys: no such file$/],
    [['--listen', '127.0.0.1:9', '--keys', `${dir}/bad.keys`], 2, /^phoenix-ga-receiver: --keys: .*bad\.keys line 3: the key is not 64 to 256 hex digits/],
    [['--listen', 'localhost', '--keys', `${dir}/good.keys`], 2, /^phoenix-ga-receiver: --listen: expected HOST:PORT .*got 'localhost'/],
    [['--keys', `${dir}/good.keys`], 2, /^phoenix-ga-receiver: --listen HOST:PORT is required/],
    [['--listen', '127.0.0.1:9', '--keys'], 2, /^phoenix-ga-receiver: --keys needs a value/],
    [['--listen', '127.0.0.1:9', '--keys', `${dir}/good.keys`, '--silent-after', 'x'], 2, /^phoenix-ga-receiver: --silent-after: expected a whole number/],
    [['--listen', '192.0.2.1:7070', '--keys', `${dir}/good.keys`], 1, /^phoenix-ga-receiver: --listen 192\.0\.2\.1:7070: bind EADDRNOTAVAIL/],
  ];
  for (const [args, code, want] of rows) {
    const r = run(...args);
    const lines = r.stderr.trim().split('\n');
    assert.is(r.status, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(lines[0], want);
    assert.is(lines.length, 1, `one line: ${r.stderr}`);
  }
  assert.match(run('--help').stdout, /^usage: phoenix-ga-receiver/);
});

test.run();

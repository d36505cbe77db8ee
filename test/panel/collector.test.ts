// The collector (dist/phoenix-ga-receiver.js) against real supervisors: each state reached by
// causing it, a key mismatch shown as auth-failing, forged, replayed, truncated and oversized
// datagrams counted and harmless, the table over HTTP as JSON and Prometheus text.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as dgram from 'dgram';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { Agent, cleanEnv, ROOT, startAgent, tempDir, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';

const get = (port: number, p: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
  http.get({ host: '127.0.0.1', port, path: p }, (res) => { let b = ''; res.on('data', (d) => { b += d; }); res.on('end', () => resolve({ status: res.statusCode!, body: b })); }).on('error', reject);
});

test('each VM in its own state, garbage counted and harmless, the table over HTTP', async () => {
  const dir = tempDir();
  const keys: Record<string, Buffer> = { 'vm-a': crypto.randomBytes(32), 'vm-b': crypto.randomBytes(32), 'vm-c': crypto.randomBytes(32), 'vm-d': crypto.randomBytes(32) };
  fs.writeFileSync(`${dir}/keys`, Object.entries(keys).map(([vm, k]) => `${vm} k1 ${k.toString('hex')}`).join('\n') + '\n');
  for (const [vm, k] of Object.entries(keys)) {
    // vm-c's agent holds another key than the panel: a mismatch after a botched rotation.
    const held = vm === 'vm-c' ? crypto.randomBytes(32) : k;
    fs.writeFileSync(`${dir}/${vm}.key`, `k1 ${held.toString('hex')}\n`, { mode: 0o600 });
  }
  const udpPort = 20000 + crypto.randomInt(20000);
  const httpPort = udpPort + 1;
  const collector: ChildProcess = spawn(process.execPath, [path.join(ROOT, 'dist/phoenix-ga-receiver.js'), '--listen', `127.0.0.1:${udpPort}`, '--keys', `${dir}/keys`, '--json', '--http', `127.0.0.1:${httpPort}`], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
  const events: Array<{ vmId: string; state: string }> = [];
  let out = '';
  collector.stdout!.on('data', (d) => { out += d; let i; while ((i = out.indexOf('\n')) >= 0) { events.push(JSON.parse(out.slice(0, i))); out = out.slice(i + 1); } });
  const agents: Agent[] = [];
  try {
    await waitFor('collector http', async () => { try { return (await get(httpPort, '/vms')).status === 200; } catch { return false; } }, 5000, 50);
    for (const vm of ['vm-a', 'vm-b', 'vm-c']) {
      agents.push(startAgent({ dir: tempDir(), vmId: vm, interval: 0.2, hangTimeout: 5, testCommands: true, heartbeatPort: udpPort, keyFile: `${dir}/${vm}.key` }));
    }
    const states = async () => Object.fromEntries((JSON.parse((await get(httpPort, '/vms')).body).vms as Array<{ vmId: string; state: string }>).map((v) => [v.vmId, v.state]));
    await waitFor('a and b working, c auth-failing', async () => { const s = await states(); return s['vm-a'] === 'working' && s['vm-b'] === 'working' && s['vm-c'] === 'auth-failing'; }, 8000, 100);

    // vm-b crash-loops.
    let pid = await agents[1].waitReady();
    for (let i = 0; i < 3; i++) {
      const prev = pid;
      if (i) pid = await waitFor('next', () => { const s = agents[1].state(); return s?.worker.state === 'ready' && s.worker.pid !== prev && s.worker.pid; }, 10_000);
      const c = await QgaClient.connect(agents[1].sock);
      c.write('{"execute":"phoenix-test-exit","arguments":{"code":9}}');
      await waitFor('exit', () => c.closed, 3000);
    }
    await waitFor('vm-b crash-looping', () => events.some((e) => e.vmId === 'vm-b' && e.state === 'crash-looping'), 8000);

    // Garbage at the collector: forged, replayed, truncated, oversized, unknown VM.
    const vms = JSON.parse((await get(httpPort, '/vms')).body);
    const before = vms.counters;
    const sock = dgram.createSocket('udp4');
    const captured: Buffer[] = [];
    const tap = dgram.createSocket('udp4');
    // Real datagrams of vm-d, caught on a second socket: replayed below.
    await new Promise<void>((r) => tap.bind(0, '127.0.0.1', r));
    const spy = startAgent({ dir: tempDir(), vmId: 'vm-d', interval: 0.2, heartbeatPort: tap.address().port, keyFile: `${dir}/vm-d.key` });
    tap.on('message', (d) => captured.push(d));
    await waitFor('a captured beat', () => captured.length >= 2, 5000);
    await spy.stop();
    const send = (b: Buffer) => new Promise<void>((r) => sock.send(b, udpPort, '127.0.0.1', () => r()));
    const real = captured[1];
    await send(real); await send(real);                          // a new epoch once, then a replay of it
    const forged = Buffer.from(real); forged[forged.length - 40] ^= 0xff;
    await send(forged);                                          // altered payload
    await send(real.subarray(0, real.length - 5));               // truncated
    await send(Buffer.alloc(1500, 0x50));                        // oversized
    await send(Buffer.from('hello'));                            // not even a header
    await new Promise((r) => setTimeout(r, 300));
    const after = JSON.parse((await get(httpPort, '/vms')).body).counters;
    assert.ok(after.replay > before.replay, 'replay counted');
    assert.ok(after['bad-mac'] > before['bad-mac'], 'forgery counted');
    assert.ok(after.format + after.size >= before.format + before.size + 3, 'truncated, oversized, junk counted');
    sock.close(); tap.close();

    // vm-a's supervisor stopped: silent. The others are unaffected by all of the above.
    process.kill(agents[0].proc.pid!, 'SIGSTOP');
    await waitFor('vm-a silent', async () => (await states())['vm-a'] === 'silent', 5000, 100);
    process.kill(agents[0].proc.pid!, 'SIGCONT');
    await waitFor('vm-a working again', async () => (await states())['vm-a'] === 'working', 5000, 100);
    assert.is((await states())['vm-c'], 'auth-failing');

    const metrics = (await get(httpPort, '/metrics')).body;
    assert.match(metrics, /^phoenix_ga_vm_state\{vm="vm-a",state="working"\} 1$/m);
    assert.match(metrics, /^phoenix_ga_vm_state\{vm="vm-c",state="auth-failing"\} 1$/m);
    assert.match(metrics, /^phoenix_ga_datagrams_total\{result="ok"\} \d+$/m);
    assert.match(metrics, /^phoenix_ga_memory_anon_bytes\{vm="vm-b",process="supervisor"\} \d+$/m);
  } finally {
    for (const a of agents) { try { process.kill(a.proc.pid!, 'SIGCONT'); } catch { /* gone */ } await a.stop(); }
    collector.kill();
  }
});

test.run();

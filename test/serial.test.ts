// The serial channel (a character device held by the supervisor), on a pseudo-terminal bridged by
// socat to a unix socket that plays the host's side (test/helpers/serial-bridge.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { startAgent, tempDir, waitFor } from './helpers/agent';
import { QgaClient } from './helpers/qga-client';
import { startedChardevHost, startHostBridge } from './helpers/serial-bridge';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function wakeups(pid: number): { ctx: number; cpuMs: number } {
  let ctx = 0;
  let cpuNs = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    ctx += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8'))![1]);
    cpuNs += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
  }
  return { ctx, cpuMs: cpuNs / 1e6 };
}

test('serial channel: served through the held descriptor, no disconnect across worker restarts, quiet at idle, no spin without a host', async () => {
  const dir = tempDir();
  const bridge = startHostBridge(dir);
  await waitFor('socat pty', () => fs.existsSync(bridge.port) && fs.existsSync(bridge.hostSock), 3000);
  const agent = startAgent({ dir, channel: `serial:${bridge.port}`, interval: 10, hangTimeout: 30 });
  try {
    const pid = await agent.waitReady();
    const host = await QgaClient.connect(bridge.hostSock);
    host.write(Buffer.concat([Buffer.from([0xff]), Buffer.from('{"execute":"guest-sync-delimited","arguments":{"id":9007199254740993}}')]));
    let line = await host.nextLine();
    if (!line.startsWith('\xff{"return"')) line = await host.nextLine(); // the error reply to the 0xFF
    assert.is(line, '\xff{"return":9007199254740993}');
    assert.is(agent.state()!.channel.state, 'open');

    // Quiet while the host is connected and idle: past V8's memory reducer, which runs once 1-3 s
    // after start on Node 20 and newer (20-40 wake-ups while it marks in steps).
    await sleep(3000);
    const a = wakeups(pid);
    await sleep(2000);
    const b = wakeups(pid);
    assert.ok(b.ctx - a.ctx <= 2, `worker woke ${b.ctx - a.ctx} times in 2 s of idle`);

    // A new worker generation inherits the same port: the host's connection never drops.
    process.kill(pid, 'SIGKILL');
    const pid2 = await waitFor('new worker', () => { const s = agent.state(); return s?.worker.state === 'ready' && s.worker.pid !== pid && s.worker.pid; }, 5000);
    host.write('{"execute":"guest-sync","arguments":{"id":2}}');
    assert.equal(await host.next(), { return: 2 });
    assert.not.ok(host.closed);

    // Host gone: the port reads EOF/EIO at once; the worker must back off, not spin.
    host.close();
    // Past the new worker's memory reducer too.
    await sleep(3500);
    const c = wakeups(pid2);
    await sleep(3000);
    const d = wakeups(pid2);
    assert.ok(d.ctx - c.ctx <= 8, `worker woke ${d.ctx - c.ctx} times in 3 s without a host`);
    assert.ok(d.cpuMs - c.cpuMs < 30, `worker used ${(d.cpuMs - c.cpuMs).toFixed(1)} ms CPU in 3 s without a host`);
    assert.is(agent.workerPid(), pid2, 'the worker did not exit into a restart loop');
  } finally {
    await agent.stop();
    bridge.proc.kill();
  }
});

test('a serial device that does not exist yet: the supervisor runs, reports it absent, and serves once it appears', async () => {
  const dir = tempDir();
  const port = path.join(dir, 'port');
  const agent = startAgent({ dir, channel: `serial:${port}`, interval: 0.2, hangTimeout: 30 });
  try {
    await agent.waitReady();
    assert.is(agent.state()!.channel.state, 'absent');
    const bridge = startHostBridge(dir);
    try {
      // The supervisor retries (1 s, then doubling) and hands the port to a new generation.
      await waitFor('port opened', () => { const s = agent.state(); return s?.channel.state === 'open' && s.worker.state === 'ready' && s.worker.generation >= 2; }, 8000);
      const host = await QgaClient.connect(bridge.hostSock);
      host.write('{"execute":"guest-ping","id":1}');
      assert.equal(await host.next(), { return: {}, id: 1 });
      host.close();
    } finally {
      bridge.proc.kill();
    }
  } finally {
    await agent.stop();
  }
});

test('an ISA serial port comes up as a terminal (echo, CR/LF translation): isa-serial makes it raw, bytes pass unchanged', async () => {
  for (const [kind, works] of [['isa-serial', true], ['serial', false]] as const) {
    const dir = tempDir();
    const host = await startedChardevHost(dir, true);
    const agent = startAgent({ dir, channel: `${kind}:${host.port}`, interval: 10, hangTimeout: 30 });
    try {
      await agent.waitReady();
      const c = await QgaClient.connect(host.hostSock);
      // A CR inside the request and 0xFF before it: a cooked tty would echo, turn CR into LF, and so on.
      c.write(Buffer.concat([Buffer.from([0xff]), Buffer.from('{"execute":"guest-sync-delimited",\r"arguments":{"id":4242}}\n')]));
      const lines: string[] = [];
      for (;;) {
        const l = await c.nextLine(1500).catch(() => null);
        if (l === null) break;
        lines.push(l);
      }
      const got = lines.includes('\xff{"return":4242}') && lines.every((l) => !l.includes('execute'));
      assert.is(got, works, `${kind}: ${JSON.stringify(lines)}`);
      c.close();
    } finally {
      await agent.stop();
      host.proc.kill();
    }
  }
});

test.run();

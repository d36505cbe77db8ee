// The serial port's waits with the host gone, on a FIFO standing in for the virtio port: once its
// writer (the host) closed, its read end reads EOF and polls hung up at once, as the port does with
// no host; a new writer's data signals SIGIO, as the port's driver does when the host comes.
// Armed, the worker reads once and then sleeps until signalled; with no perl it keeps polling.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { armPortSignal } from '../../../agent/channel/port-signal';
import { openSerialPort } from '../../../agent/channel/serial-port';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A port whose host came and went; counts the EOFs read, resolves the first data read. */
async function hostGone(perl?: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'serial-signal-'));
  const p = path.join(dir, 'port');
  assert.is(spawnSync('mkfifo', [p]).status, 0);
  const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  fs.closeSync(fs.openSync(p, fs.constants.O_WRONLY));
  let eofs = 0;
  let armed: string | null | undefined;
  let gotData: (s: string) => void = () => {};
  const data = new Promise<string>((r) => { gotData = r; });
  const port = openSerialPort(fd, {
    data: (chunk) => gotData(chunk.toString()),
    host: (connected) => { if (!connected) eofs++; },
  }, (signalled, done) => armPortSignal(fd, signalled, (err) => { armed = err; done(err); }, perl));
  port.start();
  while (armed === undefined) await sleep(10);
  return { p, armed, eofs: () => eofs, data, done: () => { port.close(); fs.rmSync(dir, { recursive: true }); } };
}

test('armed: with the host gone the port is read once, and data is read as soon as it comes', async () => {
  const h = await hostGone();
  try {
    assert.is(h.armed, null);
    const before = h.eofs();
    await sleep(3000);
    // Polling (unarmed) reads 4-5 times in these 3 s: 100, 200, 400, 800, 1000 ms apart.
    assert.ok(h.eofs() - before <= 1, `read ${h.eofs() - before} times in 3 s with the host gone`);
    const t0 = Date.now();
    fs.writeFileSync(h.p, 'ping');
    assert.is(await Promise.race([h.data, sleep(1000).then(() => 'nothing in 1 s')]), 'ping');
    assert.ok(Date.now() - t0 < 1000);
  } finally {
    h.done();
  }
});

test('no perl: the port is polled, and data still arrives', async () => {
  const h = await hostGone('/nonexistent/perl');
  try {
    assert.match(String(h.armed), /ENOENT/);
    await sleep(3000);
    assert.ok(h.eofs() >= 3, `read ${h.eofs()} times in 3 s with the host gone`);
    fs.writeFileSync(h.p, 'ping');
    assert.is(await Promise.race([h.data, sleep(5000).then(() => 'nothing in 5 s')]), 'ping');
  } finally {
    h.done();
  }
});

test('armed: every read of the port is announced before it is made, and data keeps coming in order', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'serial-gated-'));
  const p = path.join(dir, 'port');
  assert.is(spawnSync('mkfifo', [p]).status, 0);
  const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  // The host stays connected: a writer is open all along.
  const host = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  const log: string[] = [];
  let got = '';
  let armed: string | null | undefined;
  const port = openSerialPort(fd, {
    data: (chunk, announced) => { log.push(announced ? 'data' : 'data unannounced'); got += chunk.toString('latin1'); },
    reading: () => log.push('reading'),
    drained: () => log.push('drained'),
    host: () => undefined,
  }, (signalled, done) => armPortSignal(fd, signalled, (err) => { armed = err; done(err); }));
  try {
    port.start();
    while (armed === undefined) await sleep(10);
    assert.is(armed, null);
    await sleep(100);
    log.length = 0;
    fs.writeSync(host, 'one');
    await waitUntil(() => got === 'one');
    await sleep(50);
    // Read when signalled, announced, and read again until there is nothing: no read unannounced.
    assert.equal(log, ['reading', 'data', 'reading', 'drained']);
    // 3 MB in 4 KiB writes as fast as the FIFO takes them: all of it, in order, every read announced.
    const big = Buffer.alloc(3 << 20);
    for (let i = 0; i < big.length; i++) big[i] = 97 + (i % 26);
    got = '';
    log.length = 0;
    for (let off = 0; off < big.length;) {
      try { off += fs.writeSync(host, big, off, Math.min(4096, big.length - off)); } catch { await sleep(1); }
    }
    await waitUntil(() => got.length === big.length);
    assert.ok(got === big.toString('latin1'), 'the bytes arrived in order');
    assert.not.ok(log.includes('data unannounced'));
    for (let i = 0; i < log.length; i++) if (log[i] === 'data') assert.is(log[i - 1], 'reading', `read ${i} was not announced`);
  } finally {
    port.close();
    fs.closeSync(host);
    fs.rmSync(dir, { recursive: true });
  }
});

async function waitUntil(f: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(5);
  }
}

test.run();

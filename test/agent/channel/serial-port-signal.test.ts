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

test.run();

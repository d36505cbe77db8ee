// The heartbeat's UDP socket: the libuv handle sends without dgram's JS path, over IPv4 and IPv6;
// dgram takes over where process.binding is missing; errors read as dgram's ("send ECODE HOST:PORT").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as dgram from 'dgram';
import { execFileSync, spawnSync } from 'child_process';
import * as path from 'path';
import { udpSocket } from '../../supervisor/heartbeat';
import { ROOT } from '../helpers/agent';

const QUEUED_CHILD = 'PHOENIX_GA_TEST_QUEUED_SEND';

// The child of the queued-send test (node --test-udp-no-try-send --expose-gc: every send waits
// for the loop): is the datagram's buffer still alive after a collection while its send is queued?
if (process.env[QUEUED_CHILD]) {
  const rx = dgram.createSocket('udp4');
  rx.bind(0, '127.0.0.1', () => {
    const s = udpSocket(false);
    const held = [Buffer.alloc(300, 'x')];
    const ref = new WeakRef(held[0]);
    let done = false;
    // Sent from a frame that returns, so no stale register of ours keeps the buffer.
    const sendIt = (): void => s.send(held.pop()!, (rx.address() as { port: number }).port, '127.0.0.1', () => { done = true; });
    setImmediate(() => {
      sendIt();
      (global as unknown as { gc(): void }).gc();
      const state = done ? 'sent at once' : ref.deref() ? 'kept while queued' : 'freed while queued';
      rx.on('message', (m) => { process.stdout.write(`${state}, received ${m.every((c) => c === 0x78) ? 'intact' : 'corrupt'}`); s.close(); rx.close(); });
    });
  });
}

async function receiver(type: 'udp4' | 'udp6', host: string): Promise<{ port: number; next: () => Promise<Buffer>; close: () => void }> {
  const rx = dgram.createSocket(type);
  await new Promise<void>((r) => rx.bind(0, host, () => r()));
  const got: Buffer[] = [];
  let wake = () => {};
  rx.on('message', (m) => { got.push(m); wake(); });
  const next = async () => { while (!got.length) await new Promise<void>((r) => { wake = r; }); return got.shift()!; };
  return { port: rx.address().port, next, close: () => rx.close() };
}

const sent = (s: ReturnType<typeof udpSocket>, d: Buffer, port: number, host: string) =>
  new Promise<string | null>((r) => s.send(d, port, host, r));

test('sends through the handle, not dgram.send, over IPv4 and IPv6', async () => {
  const dgramSend = dgram.Socket.prototype.send;
  dgram.Socket.prototype.send = () => { throw new Error('dgram.send used'); };
  try {
    for (const [type, host] of [['udp4', '127.0.0.1'], ['udp6', '::1']] as const) {
      const rx = await receiver(type, host);
      const s = udpSocket(type === 'udp6');
      try {
        for (const text of ['one', 'two']) {
          assert.is(await sent(s, Buffer.from(text), rx.port, host), null);
          assert.is((await rx.next()).toString(), text);
        }
      } finally { s.close(); rx.close(); }
    }
  } finally { dgram.Socket.prototype.send = dgramSend; }
});

test('dgram where process.binding is missing', async () => {
  const p = process as unknown as { binding: unknown };
  const binding = p.binding;
  p.binding = () => { throw new Error('No such module'); };
  const rx = await receiver('udp4', '127.0.0.1');
  const s = udpSocket(false);
  try {
    assert.is(await sent(s, Buffer.from('by dgram'), rx.port, '127.0.0.1'), null);
    assert.is((await rx.next()).toString(), 'by dgram');
  } finally { p.binding = binding; s.close(); rx.close(); }
});

test("a refused send says why, as dgram's error does", async () => {
  const s = udpSocket(true);
  try {
    assert.is(await sent(s, Buffer.from('x'), 9, '127.0.0.1'), 'send EINVAL 127.0.0.1:9');
  } finally { s.close(); }
});

test('a queued send keeps its bytes alive until it is done (libuv holds only a pointer), on Node 20 and 16', () => {
  const node16 = execFileSync(process.execPath, [path.join(ROOT, 'build/runtime.mjs'), '16.20.2'], { encoding: 'utf8' }).trim();
  for (const node of [process.execPath, node16]) {
    const child = spawnSync(node, ['--test-udp-no-try-send', '--expose-gc', __filename], { env: { ...process.env, [QUEUED_CHILD]: '1' }, encoding: 'utf8', timeout: 10_000 });
    assert.is(child.stderr, '', node);
    assert.is(child.stdout, 'kept while queued, received intact', node);
  }
});

if (!process.env[QUEUED_CHILD]) test.run();

// The event stream's bounds, on a real HTTP server in this process: a client too far behind is
// told to reset, a client that does not read is dropped, and the number of streams is capped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';
import { encodeHeartbeat, HeartbeatPayload } from '../../supervisor/heartbeat-packet';
import { MAX_CLIENTS } from '../../panel/change-feed';
import { startCollectorHttp } from '../../panel/collector-http';
import { HeartbeatReceiver } from '../../panel/heartbeat-receiver';

const key = crypto.randomBytes(32);
const payload = (state: 'ready' | 'starting'): HeartbeatPayload => ({
  boot: 'b', interval_ms: 1000, sup: { pid: 1, up_ms: 1, start_ms: 1, ver: '0.1.0', rss_kb: 1, anon_kb: 1 },
  worker: { state, pid: 2, gen: 1, progress_age_ms: 1, rss_kb: 1, anon_kb: 1 }, restarts: { total: 0, failures_10m: 0 }, last_exit: null, channel: { kind: 'unix', state: 'open' },
});

async function setup(): Promise<{ r: HeartbeatReceiver; port: number; server: http.Server; flip(n: number): void }> {
  const r = new HeartbeatReceiver(new Map([['vm1', [{ keyId: 'k1', key }]]]));
  const server = await startCollectorHttp(r, '127.0.0.1', 0);
  let seq = 0n;
  // Each beat changes vm1's state (working, alive-not-working, ...): one event each.
  const flip = (n: number) => { for (let i = 0; i < n; i++) { seq++; r.accept(encodeHeartbeat({ vmId: 'vm1', keyId: 'k1', startCounter: 1n, epoch: 'aaaaaaaaaaaaaaaa', seq, payload: payload(seq % 2n ? 'ready' : 'starting') }, key)); } };
  return { r, port: (server.address() as AddressInfo).port, server, flip };
}

function open(port: number, path: string): Promise<{ res: http.IncomingMessage; req: http.ClientRequest }> {
  return new Promise((resolve, reject) => { const req = http.get({ host: '127.0.0.1', port, path }, (res) => resolve({ res, req })); req.on('error', reject); });
}

test('a client whose cursor is older than the kept history gets a reset event', async () => {
  const s = await setup();
  try {
    s.flip(6000);
    assert.is(s.r.rev, 6000);
    const { res, req } = await open(s.port, '/events?since=10');
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (d) => { text += d; });
    await new Promise((r) => setTimeout(r, 200));
    assert.match(text, /event: reset\ndata: \{"rev":6000\}\n\n/);
    assert.not.match(text, /event: state/);
    req.destroy();
    const recent = await open(s.port, '/events?since=5990');
    let t2 = '';
    recent.res.on('data', (d) => { t2 += d; });
    await new Promise((r) => setTimeout(r, 200));
    assert.is(t2.split('event: state').length - 1, 10, 'the ten it missed');
    recent.req.destroy();
  } finally {
    s.server.close();
  }
});

test('a client that does not read is dropped, not buffered for; streams are capped', async () => {
  const s = await setup();
  try {
    const slow = await open(s.port, '/events');
    slow.res.pause();
    let closed = false;
    slow.res.on('close', () => { closed = true; });
    for (let i = 0; i < 20 && !closed; i++) { s.flip(2000); await new Promise((r) => setTimeout(r, 20)); }
    assert.ok(closed, 'the slow client was disconnected');
    const many = [];
    for (let i = 0; i < MAX_CLIENTS; i++) many.push(await open(s.port, '/events'));
    const over = await open(s.port, '/events');
    assert.is(over.res.statusCode, 503);
    for (const m of many) m.req.destroy();
  } finally {
    s.server.close();
  }
});

test.run();

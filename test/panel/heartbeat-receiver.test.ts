import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'crypto';
import { encodeHeartbeat, HeartbeatPayload, MAX_DATAGRAM } from '../../supervisor/heartbeat-packet';
import { classify, HeartbeatReceiver, parseKeyFile } from '../../panel/heartbeat-receiver';

const key = crypto.randomBytes(32);
const other = crypto.randomBytes(32);

function payload(over: Partial<HeartbeatPayload> = {}, worker: Partial<HeartbeatPayload['worker']> = {}): HeartbeatPayload {
  return {
    boot: 'b', interval_ms: 1000,
    sup: { pid: 1, up_ms: 10, start_ms: 1000, ver: '0.1.0', rss_kb: 1, anon_kb: 1 },
    worker: { state: 'ready', pid: 2, gen: 1, progress_age_ms: 5, rss_kb: 1, anon_kb: 1, ...worker },
    restarts: { total: 0, failures_10m: 0 },
    last_exit: null,
    channel: { kind: 'unix', state: 'listening' },
    ...over,
  };
}

function beat(seq: bigint, o: { vmId?: string; keyId?: string; epoch?: string; k?: Buffer; p?: HeartbeatPayload } = {}): Buffer {
  return encodeHeartbeat({ vmId: o.vmId ?? 'vm1', keyId: o.keyId ?? 'k1', epoch: o.epoch ?? 'aaaaaaaaaaaaaaaa', seq, payload: o.p ?? payload() }, o.k ?? key);
}

function receiver(now = { t: 0 }): HeartbeatReceiver {
  return new HeartbeatReceiver((id) => (id === 'vm1' ? [{ keyId: 'k1', key }] : id === 'vm2' ? [{ keyId: 'k1', key: other }] : undefined), { now: () => now.t });
}

test('an authentic beat is accepted and a heartbeat stays well under 1 KiB', () => {
  const r = receiver();
  const d = beat(1n, { p: payload({ last_exit: { reason: 'kernel-oom', code: null, signal: 'SIGKILL', ago_ms: 123456 } }) });
  assert.ok(d.length < 600, `${d.length} bytes`);
  assert.equal(r.accept(d), { ok: true, vmId: 'vm1' });
});

test('forged, truncated, oversized, unknown and replayed datagrams are rejected', () => {
  const r = receiver();
  assert.is(r.accept(beat(1n)).ok, true);
  assert.equal(r.accept(beat(1n)), { ok: false, why: 'replay' });
  assert.equal(r.accept(beat(2n, { k: other })), { ok: false, why: 'bad-mac' });
  assert.equal(r.accept(beat(3n, { vmId: 'vm2' })), { ok: false, why: 'bad-mac' }, 'a key of another VM');
  assert.equal(r.accept(beat(3n, { vmId: 'nobody' })), { ok: false, why: 'unknown-vm' });
  assert.equal(r.accept(beat(3n, { keyId: 'k9' })), { ok: false, why: 'unknown-key' });
  const good = beat(4n);
  assert.equal(r.accept(good.subarray(0, good.length - 1)), { ok: false, why: 'format' }, 'truncated');
  assert.equal(r.accept(good.subarray(0, 20)), { ok: false, why: 'size' });
  assert.equal(r.accept(Buffer.alloc(MAX_DATAGRAM + 1)), { ok: false, why: 'size' });
  const flipped = Buffer.from(good); flipped[flipped.length - 40] ^= 1;
  assert.equal(r.accept(flipped), { ok: false, why: 'bad-mac' }, 'payload altered');
  assert.equal(r.accept(good), { ok: true, vmId: 'vm1' });
  assert.is(r.counters.ok, 2);
});

test('sequence window: late beats inside the window count once, older ones are refused', () => {
  const r = receiver();
  assert.ok(r.accept(beat(100n)).ok);
  assert.ok(r.accept(beat(98n)).ok, 'reordered');
  assert.equal(r.accept(beat(98n)), { ok: false, why: 'replay' });
  assert.equal(r.accept(beat(36n)), { ok: false, why: 'too-old' });
  assert.ok(r.accept(beat(101n)).ok);
});

test('a new epoch (supervisor restart) is accepted; the old epoch cannot be replayed afterwards', () => {
  const r = receiver();
  const started = (ms: number, boot = 'b') => { const p = payload({ boot }); p.sup = { ...p.sup, start_ms: ms }; return p; };
  assert.ok(r.accept(beat(5n, { epoch: '1111111111111111', p: started(1000) })).ok);
  assert.ok(r.accept(beat(1n, { epoch: '2222222222222222', p: started(2000) })).ok);
  assert.equal(r.accept(beat(6n, { epoch: '1111111111111111', p: started(1000) })), { ok: false, why: 'stale-epoch' });
  // An epoch never seen, but from a supervisor that started earlier in this boot: a replay of a
  // datagram older than the retired list remembers, which must not displace the running one.
  assert.equal(r.accept(beat(9n, { epoch: '3333333333333333', p: started(1500) })), { ok: false, why: 'stale-epoch' });
  assert.ok(r.accept(beat(1n, { epoch: '4444444444444444', p: started(10, 'another-boot') })).ok, 'a new boot starts over');
});

test('an authentic payload with a broken shape is refused, not crashed on', () => {
  const r = receiver();
  const bad = payload();
  (bad as unknown as { worker: unknown }).worker = 'x';
  assert.equal(r.accept(beat(1n, { p: bad })), { ok: false, why: 'bad-payload' });
});

test('classification of each state', () => {
  const rows: Array<[HeartbeatPayload, number, string]> = [
    [payload(), 0, 'working'],
    [payload(), 3001, 'silent'],
    [payload({}, { state: 'starting', pid: 3 }), 0, 'alive-not-working'],
    [payload({}, { state: 'stopped', pid: null }), 0, 'alive-not-working'],
    [payload({ channel: { kind: 'serial', state: 'absent' } }), 0, 'alive-not-working'],
    [payload({}, { progress_age_ms: 2500 }), 0, 'hung'],
    [payload({}, { state: 'hung' }), 0, 'hung'],
    [payload({ last_exit: { reason: 'hung', code: null, signal: 'SIGKILL', ago_ms: 100 } }), 0, 'hung'],
    [payload({ last_exit: { reason: 'kernel-oom', code: null, signal: 'SIGKILL', ago_ms: 100 } }), 0, 'oom-killed'],
    [payload({ last_exit: { reason: 'heap-oom', code: null, signal: 'SIGABRT', ago_ms: 100 } }), 0, 'oom-killed'],
    [payload({ last_exit: { reason: 'heap-oom', code: null, signal: 'SIGABRT', ago_ms: 60_000 } }), 0, 'working'],
    [payload({}, { state: 'backoff', pid: null }), 0, 'crash-looping'],
    [payload({ restarts: { total: 5, failures_10m: 3 }, last_exit: { reason: 'crash', code: 1, signal: null, ago_ms: 10 } }), 0, 'crash-looping'],
  ];
  for (const [p, age, want] of rows) assert.is(classify(p, age).state, want, JSON.stringify({ w: p.worker.state, e: p.last_exit?.reason, age }));
});

test('state changes are reported, silence is noticed by sweep', () => {
  const now = { t: 0 };
  const seen: string[] = [];
  const r = new HeartbeatReceiver(() => [{ keyId: 'k1', key }], { now: () => now.t, onChange: (v) => seen.push(v.state) });
  r.accept(beat(1n));
  r.accept(beat(2n));
  now.t = 10_000;
  r.sweep();
  assert.equal(seen, ['working', 'silent']);
});

test('key file parsing', () => {
  const hex = key.toString('hex');
  const m = parseKeyFile(`# panel keys\nvm1 k1 ${hex}\nvm1 k2 ${hex}\nvm2 ${hex}\n`);
  assert.is(m.get('vm1')!.length, 2);
  assert.is(m.get('vm2')![0].keyId, '');
  assert.throws(() => parseKeyFile('vm1 k1 abcd\n'), /line 1/);
});

test.run();

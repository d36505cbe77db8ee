// The receiver library on datagrams made by the project's encoder: verification, the sequence
// window, which epoch is live (a replay of an earlier start never displaces it), payload checks
// (a VM's own key cannot smuggle text), key rotation, never-seen VMs and refusals by source.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'crypto';
import { encodeHeartbeat, HeartbeatPayload, MAX_DATAGRAM } from '../../supervisor/heartbeat-packet';
import { classify, HeartbeatReceiver, KeyEntry } from '../../panel/heartbeat-receiver';
import { checkPayload } from '../../panel/heartbeat-payload';

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

interface BeatOpts { vmId?: string; keyId?: string; epoch?: string; counter?: bigint; k?: Buffer; p?: unknown }
function beat(seq: bigint, o: BeatOpts = {}): Buffer {
  return encodeHeartbeat({ vmId: o.vmId ?? 'vm1', keyId: o.keyId ?? 'k1', startCounter: o.counter ?? 100n, epoch: o.epoch ?? 'aaaaaaaaaaaaaaaa', seq, payload: (o.p ?? payload()) as HeartbeatPayload }, o.k ?? key);
}

function receiver(now = { t: 0 }): HeartbeatReceiver {
  return new HeartbeatReceiver((id) => (id === 'vm1' ? [{ keyId: 'k1', key }] : id === 'vm2' ? [{ keyId: 'k1', key: other }] : undefined), { now: () => now.t });
}

test('an authentic beat is accepted and a heartbeat stays well under 1 KiB', () => {
  const r = receiver();
  const d = beat(1n, { p: payload({ last_exit: { reason: 'kernel-oom', code: null, signal: 'SIGKILL', ago_ms: 123456 } }) });
  assert.ok(d.length < 640, `${d.length} bytes`);
  assert.equal(r.accept(d), { ok: true, vmId: 'vm1' });
});

test('forged, truncated, oversized, unknown, old-version and replayed datagrams are rejected', () => {
  const r = receiver();
  assert.is(r.accept(beat(1n)).ok, true);
  assert.is(r.accept(beat(1n)).ok === false && r.counters.replay, 1);
  assert.equal(r.accept(beat(2n, { k: other })), { ok: false, why: 'bad-mac', vmId: 'vm1' });
  assert.equal(r.accept(beat(3n, { vmId: 'vm2' })), { ok: false, why: 'bad-mac', vmId: 'vm2' }, 'a key of another VM');
  assert.equal(r.accept(beat(3n, { vmId: 'nobody' })), { ok: false, why: 'unknown-vm', vmId: 'nobody' });
  assert.equal(r.accept(beat(3n, { keyId: 'k9' })), { ok: false, why: 'unknown-key', vmId: 'vm1' });
  const good = beat(4n);
  assert.equal(r.accept(good.subarray(0, good.length - 1)), { ok: false, why: 'format' }, 'truncated');
  assert.equal(r.accept(good.subarray(0, 20)), { ok: false, why: 'size' });
  assert.equal(r.accept(Buffer.alloc(MAX_DATAGRAM + 1)), { ok: false, why: 'size' });
  const flipped = Buffer.from(good); flipped[flipped.length - 40] ^= 1;
  assert.is((r.accept(flipped) as { why: string }).why, 'bad-mac', 'payload altered');
  const v1 = Buffer.from(good); v1[2] = 1;
  assert.equal(r.accept(v1), { ok: false, why: 'old-version', vmId: 'vm1' }, 'version 1 is refused, the VM named');
  const counterRaised = Buffer.from(good); counterRaised[4 + 3 + 1 + 2 + 7] ^= 1;
  assert.is((r.accept(counterRaised) as { why: string }).why, 'bad-mac', 'the start counter is under the MAC');
  assert.equal(r.accept(good), { ok: true, vmId: 'vm1' });
  assert.is(r.counters.ok, 2);
});

test('sequence window: late beats inside the window count once, older ones are refused', () => {
  const r = receiver();
  assert.ok(r.accept(beat(100n)).ok);
  assert.ok(r.accept(beat(98n)).ok, 'reordered');
  assert.is((r.accept(beat(98n)) as { why: string }).why, 'replay');
  assert.is((r.accept(beat(36n)) as { why: string }).why, 'too-old');
  assert.ok(r.accept(beat(101n)).ok);
});

test('a replayed datagram of an earlier boot never displaces the live epoch', () => {
  const now = { t: 0 };
  const r = receiver(now);
  // Captured during an earlier boot (start counter 100), replayed while a later start (200) is live.
  const captured = beat(7n, { epoch: '1111111111111111', counter: 100n, p: payload({ boot: 'e1' }) });
  for (let i = 1n; i <= 3n; i++) { now.t += 1000; assert.ok(r.accept(beat(i, { epoch: '2222222222222222', counter: 200n, p: payload({ boot: 'e2' }) })).ok); }
  assert.is((r.accept(captured) as { why: string }).why, 'stale-epoch');
  now.t += 1000;
  assert.ok(r.accept(beat(4n, { epoch: '2222222222222222', counter: 200n })).ok, 'the live epoch goes on');
  assert.is(r.view('vm1')!.epoch, '2222222222222222');
  assert.is(r.view('vm1')!.state, 'working');
  assert.is(r.counters['stale-epoch'], 1);
});

test('a later start takes over on its second beat, or at once after a stopping beat; never on one datagram while the live one beats', () => {
  const now = { t: 0 };
  const r = receiver(now);
  const live = (seq: bigint, p = payload()) => r.accept(beat(seq, { epoch: 'aaaaaaaaaaaaaaaa', counter: 100n, p }));
  assert.ok(live(1n).ok);
  now.t = 500;
  assert.ok(r.accept(beat(1n, { epoch: 'bbbbbbbbbbbbbbbb', counter: 101n })).ok, 'authentic and later: counted');
  assert.is(r.view('vm1')!.epoch, 'aaaaaaaaaaaaaaaa', 'one datagram does not retire the live epoch');
  now.t = 900;
  assert.ok(live(2n).ok, 'the live epoch still beats');
  now.t = 1500;
  assert.ok(r.accept(beat(2n, { epoch: 'bbbbbbbbbbbbbbbb', counter: 101n })).ok);
  assert.is(r.view('vm1')!.epoch, 'bbbbbbbbbbbbbbbb', 'its second beat proves it');
  assert.is((live(3n) as { why: string }).why, 'stale-epoch', 'the old epoch is over for good');
  // A clean stop: the next start is live from its first beat.
  now.t = 2000;
  assert.ok(r.accept(beat(3n, { epoch: 'bbbbbbbbbbbbbbbb', counter: 101n, p: payload({ stopping: true }, { state: 'stopped', pid: null }) })).ok);
  assert.is(r.view('vm1')!.state, 'stopped');
  now.t = 60_000;
  r.sweep();
  assert.is(r.view('vm1')!.state, 'stopped', 'a clean stop never turns silent');
  assert.ok(r.accept(beat(1n, { epoch: 'cccccccccccccccc', counter: 102n })).ok);
  assert.is(r.view('vm1')!.epoch, 'cccccccccccccccc');
  assert.is(r.view('vm1')!.state, 'working');
});

test('an equal start counter (not saved by the agent) takes over only after the live epoch falls quiet', () => {
  const now = { t: 0 };
  const r = receiver(now);
  assert.ok(r.accept(beat(1n, { epoch: 'aaaaaaaaaaaaaaaa', counter: 5n })).ok);
  for (const [t, seq] of [[300, 1n], [1000, 2n]] as const) { now.t = t; assert.ok(r.accept(beat(seq, { epoch: 'bbbbbbbbbbbbbbbb', counter: 5n })).ok); }
  assert.is(r.view('vm1')!.epoch, 'aaaaaaaaaaaaaaaa', 'two beats, but the live one was heard 1 s ago');
  now.t = 2000;
  assert.ok(r.accept(beat(3n, { epoch: 'bbbbbbbbbbbbbbbb', counter: 5n })).ok);
  assert.is(r.view('vm1')!.epoch, 'bbbbbbbbbbbbbbbb', 'the live one missed its beat');
  assert.is((r.accept(beat(9n, { epoch: 'dddddddddddddddd', counter: 4n })) as { why: string }).why, 'stale-epoch');
});

test('a VM with its own key cannot smuggle text: every field is checked, unknown fields dropped', () => {
  const r = receiver();
  const forged = '2030-01-01T00:00:00.000Z vm2 working -> silent (no heartbeat for 99 s)';
  const bad: Array<[string, unknown]> = [
    ['worker.state', payload({}, { state: `ready\n${forged}` as never })],
    ['last_exit', payload({ last_exit: { reason: `crash\n${forged}`, code: 1, signal: null, ago_ms: 1 } })],
    ['last_exit', payload({ last_exit: { reason: 'crash', code: 1, signal: '\u001b[2J', ago_ms: 1 } })],
    ['channel', payload({ channel: { kind: 'unix', state: '\u009b31m' } })],
    ['sup.ver', payload({ sup: { pid: 1, up_ms: 1, start_ms: 1, ver: '1\u001b]0;x\u0007', rss_kb: 1, anon_kb: 1 } })],
    ['boot', payload({ boot: 'x y' })],
    ['interval_ms', payload({ interval_ms: 365 * 86_400_000 })],
    ['interval_ms', payload({ interval_ms: 49 })],
    ['worker', payload({}, { pid: -1 })],
    ['stopping', { ...payload(), stopping: 'yes' }],
    ['journal', { ...payload(), journal: `read-only\n${forged}` }],
    ['clock', { ...payload(), clock: { heal: `on\n${forged}`, rtc_offset_ms: 0, last: null } }],
    ['clock', { ...payload(), clock: { heal: 'on', rtc_offset_ms: 1.5, last: null } }],
    ['clock.last', { ...payload(), clock: { heal: 'on', rtc_offset_ms: -99, last: { result: 'stepped', step_ms: 60_000, at_ms: -1 } } }],
    ['clock.last', { ...payload(), clock: { heal: 'on', rtc_offset_ms: -99, last: { result: forged, step_ms: 60_000, at_ms: 1 } } }],
    ['cloned', { ...payload(), cloned: `yes\n${forged}` }],
    ['cloned', { ...payload(), cloned: false }],
  ];
  let seq = 1n;
  for (const [field, p] of bad) {
    assert.throws(() => checkPayload(p), new RegExp(`field ${field.replace('.', '\\.')}`));
    assert.is((r.accept(beat(seq++, { p })) as { why: string }).why, 'bad-payload', field);
  }
  assert.ok(r.accept(beat(seq++, { p: { ...payload({ interval_ms: 3_600_000 }), extra: '\u001b[31m' } })).ok, 'the longest interval is accepted');
  assert.not.ok('extra' in r.view('vm1')!.payload, 'an unknown field is dropped');
  // Why the agent refuses commands with a key (its journal cannot be written) reaches the panel.
  assert.ok(r.accept(beat(seq++, { p: { ...payload(), journal: 'read-only' } })).ok);
  assert.is(r.view('vm1')!.payload.journal, 'read-only');
  // The last clock correction reaches the panel, checked and rebuilt (its texts stay in the VM).
  const clock = { heal: 'on', rtc_offset_ms: -99, last: { result: 'stepped', step_ms: -60_000, at_ms: 110_669, why: forged } };
  assert.ok(r.accept(beat(seq++, { p: { ...payload(), clock } })).ok);
  assert.equal(r.view('vm1')!.payload.clock, { heal: 'on', rtc_offset_ms: -99, last: { result: 'stepped', step_ms: -60_000, at_ms: 110_669 } });
  // A clone's first run says so; the panel sees it in the VM's payload.
  assert.ok(r.accept(beat(seq++, { p: { ...payload(), cloned: true } })).ok);
  assert.is(r.view('vm1')!.payload.cloned, true);
});

test('rotation: two keys with the same key id are both tried; an expired one is not', () => {
  const k2 = crypto.randomBytes(32);
  let keys: KeyEntry[] = [{ keyId: 'k1', key }, { keyId: 'k1', key: k2 }];
  const r = new HeartbeatReceiver((id) => (id === 'vm1' ? keys : undefined));
  assert.ok(r.accept(beat(1n, { k: key })).ok, 'the first');
  assert.ok(r.accept(beat(2n, { k: k2 })).ok, 'the second, same id');
  keys = [{ keyId: 'k1', key, notAfter: Date.now() - 1 }, { keyId: 'k1', key: k2 }];
  assert.is((r.accept(beat(3n, { k: key })) as { why: string }).why, 'bad-mac', 'past its until=');
  assert.ok(r.accept(beat(4n, { k: k2 })).ok);
});

test('a key map lists never-seen VMs; new keys keep epochs and forget VMs no longer listed', () => {
  const seen: string[] = [];
  const r = new HeartbeatReceiver(new Map([['vm1', [{ keyId: 'k1', key }]], ['vm3', [{ keyId: 'k1', key: other }]]]), { onChange: (v, prev) => seen.push(`${v.vmId} ${prev} -> ${v.state}`) });
  assert.equal(r.views().map((v) => [v.vmId, v.state]).sort(), [['vm1', 'never-seen'], ['vm3', 'never-seen']]);
  assert.ok(r.accept(beat(1n)).ok);
  assert.equal(seen, ['vm1 never-seen -> working']);
  assert.is(r.view('vm1')!.rev, 1);
  assert.is(r.view('vm3')!.state, 'never-seen');
  r.setKeys(new Map([['vm1', [{ keyId: 'k1', key }]]]));
  assert.is(r.view('vm3'), null);
  assert.is(r.view('vm1')!.epoch, 'aaaaaaaaaaaaaaaa', 'vm1 keeps its epoch');
  assert.is((r.accept(beat(1n)) as { why: string }).why, 'replay', 'and its window');
});

test('refusals are kept by source address, bounded', () => {
  const r = receiver();
  r.accept(beat(1n, { vmId: 'ghost' }), '192.0.2.7');
  r.accept(beat(2n, { vmId: 'ghost' }), '192.0.2.7');
  r.accept(beat(1n, { k: other }), '198.51.100.1');
  const s = r.sources.list();
  assert.is(s[0].address, '198.51.100.1');
  assert.equal(s[0].counts, { 'bad-mac': 1 });
  assert.equal([s[1].address, s[1].vmId, s[1].counts], ['192.0.2.7', 'ghost', { 'unknown-vm': 2 }]);
  for (let i = 0; i < 3000; i++) r.accept(beat(1n, { vmId: 'ghost' }), `10.0.${i >> 8}.${i & 255}`);
  assert.is(r.sources.list().length, 1024);
});

test('classification of each state', () => {
  const rows: Array<[HeartbeatPayload, number, string]> = [
    [payload(), 0, 'working'],
    [payload(), 3001, 'silent'],
    [payload({ stopping: true }, { state: 'stopped', pid: null }), 10_000_000, 'stopped'],
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
  // A clone's beats: the same state, and the reason says what the agent found.
  assert.equal(classify({ ...payload(), cloned: true }, 0), { state: 'working', reason: 'ready; the agent found this machine to be a clone or a new instance' });
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

test.run();

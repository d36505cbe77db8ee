// The binary record of a sample reads back as the JSON text of the sample, byte for byte: samples
// computed from captured /proc snapshots, and the values a record must carry exactly.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { readCounters } from '../../../agent/stats/counters';
import { encodeSample, RecordError } from '../../../agent/stats/record';
import { recordJson } from '../../../agent/stats/record-json';
import { computeSample, Sample } from '../../../agent/stats/sample';
import { createHost } from '../../../agent/os/host';
import { ROOT, tempDir } from '../../helpers/agent';

function hostOf(snapshot: string) {
  const root = tempDir('proc-');
  const src = path.join(ROOT, 'test/fixtures/proc', snapshot);
  fs.mkdirSync(path.join(root, 'proc/net'), { recursive: true });
  fs.mkdirSync(path.join(root, 'proc/self'), { recursive: true });
  fs.mkdirSync(path.join(root, 'sys/block/vda'), { recursive: true });
  for (const f of fs.readdirSync(src)) {
    const to = f === 'net_dev' ? 'proc/net/dev' : f === 'mountinfo' ? 'proc/self/mountinfo' : `proc/${f}`;
    fs.copyFileSync(path.join(src, f), path.join(root, to));
  }
  return createHost(root);
}

const roundTrip = (s: Sample): string => recordJson(Buffer.from(encodeSample(s)));
const BASE: Sample = { seq: 1, time: '2026-01-01T00:00:00.000Z', interval_ms: 1, uptime_s: 1, processes: 1, oom_kills: 1, load: null, cpu: null, memory: { total_bytes: 1, available_bytes: 1, used_bytes: 1, free_bytes: 1, cached_bytes: 1, buffers_bytes: 1, swap_total_bytes: 1, swap_free_bytes: 1, swap_used_bytes: 1 }, filesystems: [], disks: [], interfaces: [] };

test('a sample between two captured snapshots reads back as its JSON, much smaller', async () => {
  const a = await readCounters(hostOf('linux-6.18-a'), () => 1000);
  const b = await readCounters(hostOf('linux-6.18-b'), () => 2000);
  for (const s of [computeSample(a, b, 7, Date.parse('2026-12-01T10:20:30.456Z')), computeSample(null, b, 1, 0)]) {
    const json = JSON.stringify(s);
    assert.is(roundTrip(s), json);
    assert.ok(encodeSample(s).length * 3 < json.length, `${encodeSample(s).length} bytes of record for ${json.length} of JSON`);
  }
});

test('every kind of number comes back exactly: nulls, decimals, negatives, huge, fractional, not finite', () => {
  const s: Sample = {
    seq: 2 ** 40, time: '1970-01-01T00:00:00.000Z', interval_ms: 0, uptime_s: 1234567.89, processes: 0, oom_kills: null,
    load: { '1m': 0.01, '5m': 10.5, '15m': 1234.56 },
    cpu: { total: { user: 0.1 + 0.2, nice: -3.25, system: 100, iowait: 1e-7, steal: 2 ** 60, idle: -0 }, per_cpu: [{ cpu: 300, user: 1, nice: 2, system: 3, iowait: 4, steal: 5, idle: 6 }] },
    memory: { total_bytes: 17179869184 * 1024, available_bytes: Number.MAX_SAFE_INTEGER, used_bytes: NaN, free_bytes: Infinity, cached_bytes: null, buffers_bytes: 1.5e300, swap_total_bytes: 0, swap_free_bytes: -1, swap_used_bytes: 99999999.99 },
    filesystems: [{ mountpoint: '/srv/dätä "x"\\', device: '/dev/mapper/vg-root', type: 'xfs', size_bytes: 1, used_bytes: null, free_bytes: 3, inodes_total: 4, inodes_used: 5, inodes_free: 6 }],
    disks: [{ name: 'nvme0n1', read_bytes_per_s: 1234.5, write_bytes_per_s: null, reads_per_s: 0, writes_per_s: 7.77 }],
    interfaces: [{ name: 'lo', rx_bytes_per_s: 1, tx_bytes_per_s: 2, rx_packets_per_s: 3, tx_packets_per_s: 4, rx_errors_per_s: 5, tx_errors_per_s: 6, rx_drops_per_s: 7, tx_drops_per_s: null }, { name: 'veth😀', rx_bytes_per_s: 0, tx_bytes_per_s: 0, rx_packets_per_s: 0, tx_packets_per_s: 0, rx_errors_per_s: 0, tx_errors_per_s: 0, rx_drops_per_s: 0, tx_drops_per_s: 0 }],
  };
  // Names outside ASCII come back as \uXXXX escapes, as the reply writer sends them.
  const text = roundTrip(s);
  assert.ok(/^[\x20-\x7e]*$/.test(text), 'ASCII only');
  assert.ok(text.includes('"/srv/d\\u00E4t\\u00E4 \\"x\\"\\\\"') && text.includes('"veth\\uD83D\\uDE00"'), text);
  assert.equal(JSON.parse(text), JSON.parse(JSON.stringify(s)));
  assert.is(text, JSON.stringify(s).replace('dätä', 'd\\u00E4t\\u00E4').replace('😀', '\\uD83D\\uDE00'));
  assert.is(roundTrip({ ...s, load: null, cpu: null, filesystems: [], disks: [], interfaces: [] }), JSON.stringify({ ...s, load: null, cpu: null, filesystems: [], disks: [], interfaces: [] }));
});

test('hundredths are written as JavaScript writes the number', () => {
  const values = [0, 1, -1, 0.01, 0.1, 0.29, 99.99, 100, 1234567.89, 2 ** 49 / 100, -(2 ** 49) / 100, 17179869184 * 1024];
  for (let i = 0; i < 2000; i++) values.push(Math.round((Math.random() - 0.3) * 10 ** (1 + (i % 15))) / 100);
  for (const v of values) {
    const s = JSON.parse(JSON.stringify({ ...BASE, uptime_s: v }));
    assert.is(roundTrip(s), JSON.stringify(s), String(v));
  }
});

test('a cut or padded record is refused, never read as another sample', async () => {
  const b = await readCounters(hostOf('linux-6.18-b'), () => 2000);
  const rec = Buffer.from(encodeSample(computeSample(null, b, 3, 0)));
  for (let n = 0; n < rec.length; n += 7) assert.throws(() => recordJson(rec, 0, n), (e: Error) => e instanceof RecordError, `cut at ${n}`);
  assert.throws(() => recordJson(Buffer.concat([rec, Buffer.from([0])])), (e: Error) => e instanceof RecordError);
});

test.run();

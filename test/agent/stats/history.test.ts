// The statistics history on real files in a temporary run directory: kept across a new worker
// (a new History on the same directory), bounded on disk, pages bounded in count and bytes, a torn
// last record from a crash cut off, another boot's files discarded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { createHistory, History } from '../../../agent/stats/history';
import type { Sample } from '../../../agent/stats/sample';
import { tempDir } from '../../helpers/agent';
import { tinyFs } from '../../helpers/tiny-fs';

const BOOT = '5e0c1b7e-0000-4000-8000-000000000001';

function sampleOf(seq: number): Sample {
  return {
    seq, time: new Date(1_700_000_000_000 + seq * 60_000).toISOString(), interval_ms: 60_000, uptime_s: 1000 + seq * 60, processes: 100 + (seq % 7), oom_kills: 0,
    load: { '1m': 0.5, '5m': 0.25, '15m': 0.1 },
    cpu: { total: { user: 1.5, nice: 0, system: 0.75, iowait: 0, steal: 0.01, idle: 97.74 }, per_cpu: [{ cpu: 0, user: 1, nice: 0, system: 1, iowait: 0, steal: 0, idle: 98 }] },
    memory: { total_bytes: 2 ** 31, available_bytes: 2 ** 30, used_bytes: 2 ** 30, free_bytes: 2 ** 29, cached_bytes: 2 ** 28, buffers_bytes: 0, swap_total_bytes: 0, swap_free_bytes: 0, swap_used_bytes: 0 },
    filesystems: [{ mountpoint: '/', device: '/dev/vda1', type: 'ext4', size_bytes: 10 ** 10, used_bytes: seq, free_bytes: 10 ** 9, inodes_total: 655360, inodes_used: 50000, inodes_free: 605360 }],
    disks: [{ name: 'vda', read_bytes_per_s: seq * 1.5, write_bytes_per_s: 0, reads_per_s: 0, writes_per_s: 0 }],
    interfaces: [{ name: 'eth0', rx_bytes_per_s: seq, tx_bytes_per_s: 2, rx_packets_per_s: 3, tx_packets_per_s: 4, rx_errors_per_s: 0, tx_errors_per_s: 0, rx_drops_per_s: 0, tx_drops_per_s: null }],
  };
}

const open = (dir: string, capacity: number, boot = BOOT, errors: Error[] = []): History =>
  createHistory({ dir, boot, capacity, onError: (e) => errors.push(e) });
const fill = (h: History, n: number): void => { for (let i = 0; i < n; i++) h.push(sampleOf((h.last() ?? 0) + 1)); };
const seqs = (h: History, since = 0, max = 100_000, bytes = 1 << 30): number[] => JSON.parse(h.page(since, max, bytes).samples.text).map((s: Sample) => s.seq);

test('samples read back as they were pushed, and a new worker continues the same series', () => {
  const dir = tempDir('hist-');
  const h = open(dir, 50);
  fill(h, 20);
  assert.equal(JSON.parse(h.page(4, 1, 1 << 20).samples.text), [sampleOf(5)]);
  const again = open(dir, 50);
  assert.is(again.first(), 1);
  assert.is(again.last(), 20);
  assert.is(again.size(), 20);
  fill(again, 5);
  assert.equal(seqs(open(dir, 50)), Array.from({ length: 25 }, (_, i) => i + 1));
});

test('the window is the last `capacity` samples; the disk holds at most twice that', () => {
  const dir = tempDir('hist-');
  const h = open(dir, 10);
  fill(h, 35);
  assert.is(h.first(), 26);
  assert.is(h.size(), 10);
  assert.equal(seqs(h), [26, 27, 28, 29, 30, 31, 32, 33, 34, 35]);
  assert.equal(seqs(h, 30), [31, 32, 33, 34, 35]);
  const onDisk = fs.readdirSync(dir).filter((f) => f.startsWith('stats')).reduce((a, f) => a + fs.statSync(path.join(dir, f)).size, 0);
  const one = fs.statSync(path.join(dir, 'stats.bin')).size / (h.last()! % 10 || 10);
  assert.ok(onDisk <= 2 * 10 * one + 256, `${onDisk} bytes on disk`);
  h.setCapacity(3);
  assert.equal(seqs(h), [33, 34, 35]);
  h.setCapacity(15);
  assert.equal(seqs(h)[0], 21, 'a larger window shows what the disk still holds');
});

test('pages stop at MAX samples and at about MAX_BYTES of JSON, but hold at least one sample', () => {
  const h = open(tempDir('hist-'), 1000);
  fill(h, 300);
  const one = JSON.stringify(sampleOf(1)).length;
  assert.equal(seqs(h, 0, 7), [1, 2, 3, 4, 5, 6, 7]);
  const page = h.page(0, 1000, one * 20);
  assert.ok(page.count >= 18 && page.count <= 20, `${page.count} samples`);
  assert.ok(page.samples.text.length <= one * 21);
  assert.is(page.last, page.count);
  assert.is(h.page(10, 1000, 1).count, 1);
  // Every sample comes back once when the cursor follows the pages.
  const all: number[] = [];
  for (let since = 0, p = h.page(since, 1000, one * 50); p.count; since = p.last!, p = h.page(since, 1000, one * 50)) all.push(...JSON.parse(p.samples.text).map((s: Sample) => s.seq));
  assert.equal(all, Array.from({ length: 300 }, (_, i) => i + 1));
});

test('a record torn by a crash is cut off, and the series goes on from the last whole one', () => {
  const dir = tempDir('hist-');
  fill(open(dir, 100), 12);
  const file = path.join(dir, 'stats.bin');
  const size = fs.statSync(file).size;
  fs.truncateSync(file, size - 5);
  const h = open(dir, 100);
  assert.is(h.last(), 11);
  assert.ok(fs.statSync(file).size < size - 5, 'the torn record is gone from the file');
  fill(h, 2);
  assert.equal(seqs(open(dir, 100)), Array.from({ length: 13 }, (_, i) => i + 1));
  // Garbage after the last record (a length that runs past the end) is cut as well.
  fs.appendFileSync(file, Buffer.from([0xff, 0xff, 0, 0, 1, 2, 3]));
  assert.is(open(dir, 100).last(), 13);
});

test("another boot's history is discarded, and so is the file of earlier versions", () => {
  const dir = tempDir('hist-');
  fill(open(dir, 10, 'boot-one'), 25);
  fs.writeFileSync(path.join(dir, 'stats.jsonl'), '{"boot":"x","sample":{"seq":1}}\n');
  const h = open(dir, 10, 'boot-two');
  assert.is(h.last(), null);
  assert.is(h.size(), 0);
  fill(h, 1);
  assert.equal(seqs(h), [1]);
  assert.not.ok(fs.existsSync(path.join(dir, 'stats.jsonl')));
  assert.not.ok(fs.existsSync(path.join(dir, 'stats.old.bin')), "the old boot's previous segment is not kept");
});

test("an earlier version's history (stats.jsonl) is converted once: same samples, same sequence numbers", () => {
  const dir = tempDir('hist-');
  const line = (boot: string, s: Sample) => JSON.stringify({ boot, sample: s }) + '\n';
  const named = (seq: number): Sample => ({ ...sampleOf(seq), interfaces: [{ ...sampleOf(seq).interfaces[0], name: 'wlän0' }] });
  // As the old worker left it: another boot's line, a gap, then this boot's unbroken run and a torn last line.
  const text = line('other', sampleOf(90)) + [3, 5, 6, 7, 8, 9].map((q) => line(BOOT, named(q))).join('') + line(BOOT, sampleOf(10)).slice(0, 40);
  fs.writeFileSync(path.join(dir, 'stats.jsonl'), text);
  const h = open(dir, 4);
  assert.equal(seqs(h), [6, 7, 8, 9]);
  assert.is(h.page(5, 1, 1 << 20).samples.text, `[${JSON.stringify(named(6)).replace('wlän0', 'wl\\u00E4n0')}]`);
  assert.not.ok(fs.existsSync(path.join(dir, 'stats.jsonl')));
  fill(h, 1);
  assert.equal(seqs(open(dir, 4)), [7, 8, 9, 10]);
});

test('a run directory that cannot be written: the history lives in memory and says why', () => {
  const errors: Error[] = [];
  const h = open('/proc/self', 5, BOOT, errors);
  fill(h, 8);
  assert.equal(seqs(h), [4, 5, 6, 7, 8]);
  assert.ok(errors.length >= 1 && /EACCES|ENOENT|EPERM|EROFS|stats\.bin/.test(errors[0].message), errors.map((e) => e.message).join('; '));
});

test('a full run directory at rotation loses the new sample only; the files stay whole for the next worker', () => {
  const tiny = tinyFs(64);
  try {
    const errors: Error[] = [];
    const h = open(tiny.dir, 5, BOOT, errors);
    fill(h, 5);
    // The current file is full and a new one needs a page the file system no longer has.
    tiny.fill();
    h.push(sampleOf(6));
    assert.ok(errors.length === 1 && /ENOSPC/.test(errors[0].message), errors.map((e) => e.message).join('; '));
    assert.is(h.last(), 5);
    tiny.unfill();
    fill(h, 2);
    assert.is(errors.length, 1);
    assert.equal(seqs(h), [3, 4, 5, 6, 7]);
    assert.equal(seqs(open(tiny.dir, 5)), [3, 4, 5, 6, 7]);
  } finally {
    tiny.cleanup();
  }
});

test.run();

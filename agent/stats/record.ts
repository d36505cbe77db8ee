// A statistics sample as a compact binary record, and back to its JSON text without building the
// object: what the history keeps on disk. Every number is one varint: 0 is null, 1 announces a
// float64, anything else is a value with at most two decimals (zigzag of value*100, plus 2), which
// is what rates, percentages, load, uptime and byte counts are. Names are inline (length + UTF-8).
// A typical sample (2 CPUs, 4 interfaces, a file system, a disk) is ~220 bytes against 1.7 KB of
// JSON. record-json.ts reads it back.

import type { Sample } from './sample';

export const CPU_KEYS = ['user', 'nice', 'system', 'iowait', 'steal', 'idle'] as const;
export const MEMORY_KEYS = ['total_bytes', 'available_bytes', 'used_bytes', 'free_bytes', 'cached_bytes', 'buffers_bytes', 'swap_total_bytes', 'swap_free_bytes', 'swap_used_bytes'] as const;
const FS_TEXT = ['mountpoint', 'device', 'type'] as const;
export const FS_KEYS = ['size_bytes', 'used_bytes', 'free_bytes', 'inodes_total', 'inodes_used', 'inodes_free'] as const;
export const DISK_KEYS = ['read_bytes_per_s', 'write_bytes_per_s', 'reads_per_s', 'writes_per_s'] as const;
export const IF_KEYS = ['rx_bytes_per_s', 'tx_bytes_per_s', 'rx_packets_per_s', 'tx_packets_per_s', 'rx_errors_per_s', 'tx_errors_per_s', 'rx_drops_per_s', 'tx_drops_per_s'] as const;

/** Hundredths up to this magnitude are exact integers with room for the zigzag and the tag. */
const MAX_HUNDREDTHS = 2 ** 50;

/** Grows as needed; one per encoder, reused across samples. */
class Writer {
  buf = Buffer.allocUnsafe(1024);
  n = 0;
  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.n + k));
    this.buf.copy(b, 0, 0, this.n);
    this.buf = b;
  }
  uint(u: number): void {
    this.room(8);
    while (u >= 128) { this.buf[this.n++] = (u % 128) | 128; u = Math.floor(u / 128); }
    this.buf[this.n++] = u;
  }
  num(v: number | null | undefined): void {
    if (v === null || v === undefined || !Number.isFinite(v)) { this.uint(0); return; }
    const k = Math.round(v * 100);
    if (k / 100 === v && Math.abs(k) < MAX_HUNDREDTHS) { this.uint((k >= 0 ? 2 * k : -2 * k - 1) + 2); return; }
    this.uint(1);
    this.room(8);
    this.buf.writeDoubleLE(v, this.n);
    this.n += 8;
  }
  text(s: unknown): void {
    const t = typeof s === 'string' ? s : '';
    const len = Buffer.byteLength(t);
    this.uint(len);
    this.room(len);
    this.n += this.buf.write(t, this.n);
  }
}

const writer = new Writer();

/** The record of a sample (a view of a shared buffer: copy or write it before the next call). */
export function encodeSample(s: Sample): Buffer {
  const w = writer;
  w.n = 0;
  w.uint(s.seq);
  w.uint(Math.max(0, Date.parse(s.time) || 0));
  w.num(s.interval_ms);
  w.num(s.uptime_s);
  w.num(s.processes);
  w.num(s.oom_kills);
  w.uint(s.load ? 1 : 0);
  if (s.load) { w.num(s.load['1m']); w.num(s.load['5m']); w.num(s.load['15m']); }
  w.uint(s.cpu ? 1 : 0);
  if (s.cpu) {
    for (const k of CPU_KEYS) w.num(s.cpu.total[k]);
    w.uint(s.cpu.per_cpu.length);
    for (const c of s.cpu.per_cpu) { w.uint(c.cpu); for (const k of CPU_KEYS) w.num(c[k]); }
  }
  for (const k of MEMORY_KEYS) w.num(s.memory[k]);
  w.uint(s.filesystems.length);
  for (const f of s.filesystems) { for (const k of FS_TEXT) w.text(f[k]); for (const k of FS_KEYS) w.num(f[k] as number | null); }
  w.uint(s.disks.length);
  for (const d of s.disks) { w.text(d.name); for (const k of DISK_KEYS) w.num(d[k] as number | null); }
  w.uint(s.interfaces.length);
  for (const i of s.interfaces) { w.text(i.name); for (const k of IF_KEYS) w.num(i[k] as number | null); }
  return w.buf.subarray(0, w.n);
}

export class RecordError extends Error {}

/** The sequence number a record starts with (to index a file without reading whole records). */
export function recordSeq(b: Buffer, start: number, end: number): number {
  let u = 0;
  let mul = 1;
  for (let p = start; p < end; p++) {
    u += (b[p] & 127) * mul;
    if (b[p] < 128) return u;
    mul *= 128;
  }
  throw new RecordError('record ends inside its sequence number');
}

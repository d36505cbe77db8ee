// A sample record (record.ts) back to the JSON text JSON.stringify gives for the sample, written
// as ASCII bytes into one buffer: a page of samples becomes one string, with no string made per
// field (building the page by string concatenation cost more in garbage collection than in work).

import { CPU_KEYS, DISK_KEYS, FS_KEYS, IF_KEYS, MEMORY_KEYS, RecordError } from './record';

const NON_ASCII = /[\u007f-\uffff]/g;

/** ASCII text built in a growing buffer. */
export class JsonBytes {
  private buf = Buffer.allocUnsafe(16 * 1024);
  n = 0;
  /** ASCII only: one byte per character. */
  put(s: string): void {
    if (this.n + s.length > this.buf.length) {
      const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.n + s.length));
      this.buf.copy(b, 0, 0, this.n);
      this.buf = b;
    }
    this.n += this.buf.write(s, this.n, 'latin1');
  }
  text(from = 0): string {
    return this.buf.toString('latin1', from, this.n);
  }
}

/** `"a":` then `,"b":` ...: what goes before each value of an object's fixed fields. */
const prefixes = (keys: readonly string[]): string[] => keys.map((k, i) => `${i ? ',' : ''}"${k}":`);
const CPU = prefixes(CPU_KEYS);
const MEMORY = prefixes(MEMORY_KEYS);
const FS = prefixes(FS_KEYS);
const DISK = prefixes(DISK_KEYS);
const IF = prefixes(IF_KEYS);

class RecordReader {
  private b: Buffer = Buffer.alloc(0);
  private p = 0;
  private end = 0;
  constructor(private readonly o: JsonBytes) {}

  read(b: Buffer, start: number, end: number): void {
    this.b = b;
    this.p = start;
    this.end = end;
    const o = this.o;
    o.put(`{"seq":${this.uint()},"time":"${new Date(this.uint()).toISOString()}","interval_ms":`);
    this.num();
    o.put(',"uptime_s":');
    this.num();
    o.put(',"processes":');
    this.num();
    o.put(',"oom_kills":');
    this.num();
    if (this.uint()) {
      o.put(',"load":{"1m":');
      this.num();
      o.put(',"5m":');
      this.num();
      o.put(',"15m":');
      this.num();
      o.put('}');
    } else {
      o.put(',"load":null');
    }
    if (this.uint()) {
      o.put(',"cpu":{"total":{');
      this.fields(CPU);
      o.put('},"per_cpu":[');
      for (let i = 0, n = this.uint(); i < n; i++) {
        o.put(`${i ? ',' : ''}{"cpu":${this.uint()},`);
        this.fields(CPU);
        o.put('}');
      }
      o.put(']}');
    } else {
      o.put(',"cpu":null');
    }
    o.put(',"memory":{');
    this.fields(MEMORY);
    o.put('},"filesystems":[');
    for (let i = 0, n = this.uint(); i < n; i++) {
      o.put(i ? ',{"mountpoint":' : '{"mountpoint":');
      this.text();
      o.put(',"device":');
      this.text();
      o.put(',"type":');
      this.text();
      o.put(',');
      this.fields(FS);
      o.put('}');
    }
    o.put('],"disks":[');
    this.named(DISK);
    o.put('],"interfaces":[');
    this.named(IF);
    o.put(']}');
    if (this.p !== this.end) throw new RecordError(`record has ${this.end - this.p} bytes left over`);
  }

  private uint(): number {
    let u = 0;
    let mul = 1;
    for (;;) {
      if (this.p >= this.end) throw new RecordError('record ends inside a number');
      const x = this.b[this.p++];
      if (x < 128) return u + x * mul;
      u += (x - 128) * mul;
      mul *= 128;
    }
  }

  private num(): void {
    const u = this.uint();
    if (u === 0) { this.o.put('null'); return; }
    if (u === 1) {
      if (this.p + 8 > this.end) throw new RecordError('record ends inside a number');
      this.o.put(JSON.stringify(this.b.readDoubleLE(this.p)));
      this.p += 8;
      return;
    }
    const z = u - 2;
    this.o.put('' + (z % 2 === 0 ? z / 2 : -(z + 1) / 2) / 100);
  }

  private text(): void {
    const len = this.uint();
    if (this.p + len > this.end) throw new RecordError('record ends inside a name');
    const t = JSON.stringify(this.b.toString('utf8', this.p, this.p + len));
    this.p += len;
    // The reply is ASCII: anything else as \uXXXX, as the reply writer does.
    this.o.put(t.replace(NON_ASCII, (c) => '\\u' + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')));
  }

  private fields(prefix: string[]): void {
    for (let i = 0; i < prefix.length; i++) { this.o.put(prefix[i]); this.num(); }
  }

  /** A list of {"name": ..., fields}. */
  private named(prefix: string[]): void {
    for (let i = 0, n = this.uint(); i < n; i++) {
      this.o.put(i ? ',{"name":' : '{"name":');
      this.text();
      this.o.put(',');
      this.fields(prefix);
      this.o.put('}');
    }
  }
}

/** Appends the JSON of the record B[START, END) to OUT. */
export function writeRecordJson(out: JsonBytes, b: Buffer, start: number, end: number): void {
  new RecordReader(out).read(b, start, end);
}

/** One record as JSON text (ASCII; non-ASCII characters of names as \uXXXX escapes). */
export function recordJson(b: Buffer, start = 0, end = b.length): string {
  const out = new JsonBytes();
  writeRecordJson(out, b, start, end);
  return out.text();
}

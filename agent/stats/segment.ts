// One file of the statistics history: a header naming the boot, then records, each a 4-byte length
// and a sample record (record.ts) whose sequence numbers follow one another. Appended in place, so
// a sample costs one write and nothing is rewritten; what is kept in memory is the offset of each
// record (4 bytes). A record torn by a crash (the last one) is cut off when the file is opened.

import fs = require('fs');
import { RecordError, recordSeq } from './record';

const MAGIC = 'PGASTAT1';
export const HEADER_BYTES = 64;
/** Far above any real sample (1024 CPUs and 64 of each series are ~40 KB): a length past it is damage. */
const MAX_RECORD = 1 << 20;
const SCAN_CHUNK = 64 * 1024;

export interface Segment {
  /** Sequence number of the first record; null while the file holds none. */
  firstSeq: number | null;
  count: number;
  /** Byte offset of record i (its length field). */
  offset(i: number): number;
  /** Where record i ends (the next one starts). */
  end(i: number): number;
  append(seq: number, record: Buffer): void;
  read(pos: number, len: number, into: Buffer): void;
  close(): void;
}

function header(boot: string): Buffer {
  const h = Buffer.alloc(HEADER_BYTES, 0x20);
  h.write(MAGIC, 0, 'latin1');
  h.write(boot.slice(0, HEADER_BYTES - MAGIC.length - 1), MAGIC.length, 'latin1');
  h[HEADER_BYTES - 1] = 0x0a;
  return h;
}

function writeAll(fd: number, b: Buffer, pos: number): void {
  for (let done = 0; done < b.length;) done += fs.writeSync(fd, b, done, b.length - done, pos + done);
}

/** A new, empty segment for BOOT (an existing file of that name is replaced). */
export function createSegment(file: string, boot: string): Segment {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
  try { writeAll(fd, header(boot), 0); } catch (e) { fs.closeSync(fd); throw e; }
  return segmentOn(fd, HEADER_BYTES, [], null);
}

/**
 * The segment in FILE when it belongs to BOOT, indexed; a torn or damaged tail is cut off.
 * Null when there is none, or it is of another boot or format.
 */
export function openSegment(file: string, boot: string): Segment | null {
  let fd: number;
  try { fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_NOFOLLOW); } catch { return null; }
  try {
    const size = fs.fstatSync(fd).size;
    const h = Buffer.alloc(HEADER_BYTES);
    if (size < HEADER_BYTES || fs.readSync(fd, h, 0, HEADER_BYTES, 0) !== HEADER_BYTES || !h.equals(header(boot))) { fs.closeSync(fd); return null; }
    // Lengths only first; the sequence numbers of the first and last records tell whether the
    // run is unbroken, and only when it is not is every record's number read.
    let scan = scanRecords(fd, size, false);
    if (scan.offsets.length && scan.lastSeq !== scan.first! + scan.offsets.length - 1) scan = scanRecords(fd, size, true);
    const { offsets, first, pos } = scan;
    if (pos !== size) fs.ftruncateSync(fd, pos);
    return segmentOn(fd, pos, offsets, first);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** Offsets of the whole records of a file, and where they end (a torn or damaged tail is left out). */
function scanRecords(fd: number, size: number, checkEach: boolean): { offsets: number[]; first: number | null; lastSeq: number | null; pos: number } {
  const offsets: number[] = [];
  let first: number | null = null;
  let lastSeq: number | null = null;
  const chunk = Buffer.allocUnsafe(SCAN_CHUNK);
  let at = 0;
  let got = 0;
  let pos = HEADER_BYTES;
  while (pos + 4 <= size) {
    // Enough of the file in the chunk for the length and the sequence number.
    if (pos + 16 > at + got && at + got < size) { at = pos; got = fs.readSync(fd, chunk, 0, SCAN_CHUNK, pos); }
    const rel = pos - at;
    if (rel + 4 > got) break;
    const len = (chunk[rel] | (chunk[rel + 1] << 8) | (chunk[rel + 2] << 16) | (chunk[rel + 3] << 24)) >>> 0;
    if (len === 0 || len > MAX_RECORD || pos + 4 + len > size) break;
    const last = pos + 4 + len >= size;
    if (checkEach || first === null || last) {
      let seq: number;
      try { seq = recordSeq(chunk, rel + 4, Math.min(rel + 4 + len, got)); } catch (e) { if (e instanceof RecordError) break; throw e; }
      if (first !== null && checkEach && seq !== first + offsets.length) break;
      if (first === null) first = seq;
      lastSeq = seq;
    }
    offsets.push(pos);
    pos += 4 + len;
  }
  return { offsets, first, lastSeq, pos };
}

function segmentOn(fd: number, size: number, initial: number[], first: number | null): Segment {
  let offsets = new Uint32Array(Math.max(64, initial.length * 2));
  offsets.set(initial);
  let end = size;
  const seg: Segment = {
    firstSeq: first,
    count: initial.length,
    offset: (i) => offsets[i],
    end: (i) => (i + 1 < seg.count ? offsets[i + 1] : end),
    append(seq, record) {
      if (seg.firstSeq !== null && seq !== seg.firstSeq + seg.count) throw new Error(`statistics sample ${seq} does not follow ${seg.firstSeq + seg.count - 1}`);
      // Length and record in one write: a crash leaves a whole record or a torn last one.
      const framed = Buffer.allocUnsafe(4 + record.length);
      framed.writeUInt32LE(record.length, 0);
      record.copy(framed, 4);
      try {
        writeAll(fd, framed, end);
      } catch (e) {
        // A half-written record would hide every later one: take it back.
        try { fs.ftruncateSync(fd, end); } catch { /* the next open cuts it */ }
        throw e;
      }
      if (seg.count === offsets.length) { const o = new Uint32Array(offsets.length * 2); o.set(offsets); offsets = o; }
      offsets[seg.count++] = end;
      if (seg.firstSeq === null) seg.firstSeq = seq;
      end += 4 + record.length;
    },
    read(pos, len, into) {
      for (let done = 0; done < len;) {
        const n = fs.readSync(fd, into, done, len - done, pos + done);
        if (n === 0) throw new Error(`a statistics file ends at byte ${pos + done}, expected ${pos + len}`);
        done += n;
      }
    },
    close() { try { fs.closeSync(fd); } catch { /* already */ } },
  };
  return seg;
}

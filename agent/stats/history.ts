// The bounded history of samples, so a panel that polled late still gets the series. Kept on disk
// in RUN_DIR (tmpfs, root-only) as compact records in two segment files (segment.ts): the current
// one takes each new sample with one write; once it holds `capacity` samples it becomes the
// previous one (replacing the one before), so between capacity and twice that are on disk. The
// worker keeps 4 bytes per sample (record offsets), opens the files only when first needed (never
// before it serves), and a worker restarted after a crash continues the series; a new boot starts
// a new one. A page is read from disk and turned into JSON text record by record.

import fs = require('fs');
import path = require('path');
import { RawJson } from '../wire/json-write';
import { encodeSample } from './record';
import { JsonBytes, writeRecordJson } from './record-json';
import { segmentFromLegacy } from './legacy-history';
import type { Sample } from './sample';
import { createSegment, openSegment, Segment } from './segment';

/** Samples as JSON text: SAMPLES is one array, COUNT of them, the last with sequence number LAST. */
export interface Page { samples: RawJson; count: number; last: number | null }

export interface History {
  readonly boot: string;
  push(s: Sample): void;
  /** Samples after SEQ: at most MAX of them and, past the first, at most about MAX_BYTES of JSON. */
  page(seq: number, max: number, maxBytes: number): Page;
  first(): number | null;
  last(): number | null;
  size(): number;
  capacity(): number;
  setCapacity(n: number): void;
}

const CURRENT = 'stats.bin';
const PREVIOUS = 'stats.old.bin';
/** The next current file while it is being made. */
const NEXT = 'stats.new.bin';
/** The history's file of earlier versions (one JSON line per sample), converted once (legacy-history.ts). */
const LEGACY = 'stats.jsonl';
/** Records are read from disk this many bytes at a time. */
const READ_CHUNK = 64 * 1024;

export function createHistory(opts: { dir: string | null; boot: string; capacity: number; onError(e: Error): void }): History {
  let cap = opts.capacity;
  let loaded = false;
  // Without a run directory (or once it fails) the history lives in memory: the segment is a
  // file in neither case, so this holds the records themselves.
  let segs: Segment[] = [];
  const file = (name: string): string | null => (opts.dir ? path.join(opts.dir, name) : null);
  const memory: Buffer[] = [];
  let memoryFirst: number | null = null;

  const load = (): void => {
    if (loaded) return;
    loaded = true;
    const cur = file(CURRENT);
    const prev = file(PREVIOUS);
    if (!cur || !prev) return;
    try {
      const p = openSegment(prev, opts.boot);
      let c = openSegment(cur, opts.boot);
      if (!p && !c) c = segmentFromLegacy(file(LEGACY)!, cur, opts.boot, cap);
      else fs.rmSync(file(LEGACY)!, { force: true });
      // One unbroken run of sequence numbers, or only the newer part of it.
      const apart = p && p.count && c && c.count && p.firstSeq! + p.count !== c.firstSeq;
      if (apart) p.close();
      if (!p || apart) fs.rmSync(prev, { force: true });
      segs = [...(p && !apart ? [p] : []), c ?? createSegment(cur, opts.boot)];
    } catch (e) {
      opts.onError(e as Error);
      for (const s of segs) s.close();
      segs = [];
    }
  };

  const stored = (): { first: number | null; last: number | null } => {
    load();
    if (!segs.length) return { first: memoryFirst, last: memoryFirst === null ? null : memoryFirst + memory.length - 1 };
    const withData = segs.filter((s) => s.count > 0);
    if (!withData.length) return { first: null, last: null };
    const l = withData[withData.length - 1];
    return { first: withData[0].firstSeq, last: l.firstSeq! + l.count - 1 };
  };
  const window = (): { first: number | null; last: number | null } => {
    const s = stored();
    return s.first === null || s.last === null ? s : { first: Math.max(s.first, s.last - cap + 1), last: s.last };
  };

  // The current file becomes the previous one; its descriptor and index stay valid across the
  // rename. The new file is made first, so a failure (a full RUN_DIR) changes nothing and the next
  // sample tries again.
  const rotate = (): void => {
    const next = createSegment(file(NEXT)!, opts.boot);
    try {
      fs.renameSync(file(CURRENT)!, file(PREVIOUS)!);
      fs.renameSync(file(NEXT)!, file(CURRENT)!);
    } catch (e) {
      next.close();
      throw e;
    }
    if (segs.length > 1) segs[0].close();
    segs = [segs[segs.length - 1], next];
  };

  const pushMemory = (record: Buffer, seq: number): void => {
    if (memoryFirst === null || seq !== memoryFirst + memory.length) { memory.length = 0; memoryFirst = seq; }
    memory.push(Buffer.from(record));
    while (memory.length > cap) { memory.shift(); memoryFirst!++; }
  };

  return {
    boot: opts.boot,
    push(s) {
      load();
      const record = encodeSample(s);
      if (!segs.length) { pushMemory(record, s.seq); return; }
      try {
        if (segs[segs.length - 1].count >= cap) rotate();
        segs[segs.length - 1].append(s.seq, record);
      } catch (e) {
        opts.onError(e as Error);
      }
    },
    page(seq, max, maxBytes) {
      const w = window();
      const out = new JsonBytes();
      out.put('[');
      let count = 0;
      let last: number | null = null;
      const from = Math.max(seq + 1, w.first ?? Infinity);
      /** Adds one record; false once the page is full. */
      const add = (b: Buffer, start: number, end: number, s: number): boolean => {
        const mark = out.n;
        if (count) out.put(',');
        writeRecordJson(out, b, start, end);
        if (count && out.n > maxBytes) { out.n = mark; return false; }
        count++;
        last = s;
        return count < max;
      };
      const done = (): Page => { out.put(']'); return { samples: new RawJson(out.text()), count, last }; };
      if (!segs.length) {
        for (let s = from; memoryFirst !== null && s <= w.last!; s++) if (!add(memory[s - memoryFirst], 0, memory[s - memoryFirst].length, s)) break;
        return done();
      }
      const buf = Buffer.allocUnsafe(READ_CHUNK);
      for (const g of segs) {
        if (g.firstSeq === null) continue;
        let i = Math.max(0, from - g.firstSeq);
        while (i < g.count) {
          // As many whole records as fit in the buffer (at least one; a big one gets its own).
          const start = g.offset(i);
          let j = i;
          while (j < g.count && (j === i || g.end(j) - start <= READ_CHUNK)) j++;
          const len = g.end(j - 1) - start;
          const b = len <= READ_CHUNK ? buf : Buffer.allocUnsafe(len);
          g.read(start, len, b);
          for (let k = i; k < j; k++) if (!add(b, g.offset(k) - start + 4, g.end(k) - start, g.firstSeq + k)) return done();
          i = j;
        }
      }
      return done();
    },
    first: () => window().first,
    last: () => window().last,
    size() { const w = window(); return w.first === null ? 0 : w.last! - w.first + 1; },
    capacity: () => cap,
    setCapacity(n) {
      cap = n;
      while (memory.length > cap) { memory.shift(); memoryFirst!++; }
    },
  };
}

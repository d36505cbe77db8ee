// The worker's side of the reply ledger (see supervisor/reply-ledger.ts): records appended to a
// file in the supervisor's run directory that the supervisor opened for it (fd 5, O_APPEND), one
// write(2) each, so a record is in the kernel before the next step happens; emptied (ftruncate)
// whenever nothing is owed or being written, so it stays a few records long. Per request: the read
// announced, its requests recorded, the reply announced, the reply recorded as written (on an
// armed port one more read, which finds nothing, announced and closed): about 4 µs each on tmpfs.
// The supervisor reads it only when a worker has died: no wakeup of the supervisor per request.

import fs = require('fs');
import { FRAMED_RECORD, OwedRequest, owedRecord, paidRecord, READING_RECORD, stepRecord, WRITING_RECORD } from '../supervisor/reply-ledger';

export interface LedgerWriter {
  /** A chunk was read from the channel: first thing, before it is framed. */
  reading(): void;
  /** The requests the chunk completed (maybe none), before any of them runs. */
  owe(requests: OwedRequest[]): void;
  /** Replies are about to be written to the channel; their paid() or paidOne() follows. */
  writing(): void;
  step(seq: number, step: 'started' | 'done' | 'failed'): void;
  /** Every reply up to SEQ is in the kernel (WROTE: a write announced by writing() completed; false when nothing was to be sent). */
  paid(seq: number, wrote?: boolean): void;
  /** The reply to SEQ is in the kernel, ahead of earlier ones (its write completed). */
  paidOne(seq: number): void;
}

/** Past this many bytes the file is rewritten with only what is still open (a host that sends a byte at a time while a command runs). */
const COMPACT_AT = 64 << 10;

export function openLedgerWriter(fd: number, onError: (e: Error) => void): LedgerWriter {
  let broken = false;
  /** The records of each owed request (its "+" line and its steps), to rewrite the file from. */
  const owed = new Map<number, string>();
  /** Writes announced ("w") and not yet completed. */
  let writes = 0;
  let size = 0;
  const guard = (f: () => void): void => {
    if (broken) return;
    try {
      f();
    } catch (e) {
      // A full or read-only run directory: replies are still sent; only a death's are not.
      broken = true;
      onError(e as Error);
    }
  };
  const write = (text: string): void => {
    for (let off = 0; off < text.length;) off += fs.writeSync(fd, off ? text.slice(off) : text, null, 'latin1');
    size += text.length;
  };
  const truncate = (): void => guard(() => { fs.ftruncateSync(fd, 0); size = 0; });
  const append = (text: string): void => guard(() => {
    write(text);
    if (size > COMPACT_AT) {
      fs.ftruncateSync(fd, 0);
      size = 0;
      write([...owed.values()].join('') + WRITING_RECORD.repeat(writes));
    }
  });
  // Emptied whenever nothing is owed or being written: the file is then all history.
  const settle = (record: string): void => {
    if (owed.size === 0 && writes === 0) truncate();
    else append(record);
  };
  return {
    // Not through append: nothing may be rewritten while a chunk is being framed.
    reading: () => guard(() => write(READING_RECORD)),
    owe(requests) {
      const records = requests.map(owedRecord);
      requests.forEach((r, i) => owed.set(r.seq, records[i]));
      if (requests.length) append(records.join('') + FRAMED_RECORD);
      else settle(FRAMED_RECORD);
    },
    writing() {
      writes++;
      append(WRITING_RECORD);
    },
    step(seq, step) {
      const rec = owed.get(seq);
      if (rec !== undefined) owed.set(seq, rec + stepRecord(seq, step));
      append(stepRecord(seq, step));
    },
    paid(seq, wrote = true) {
      if (wrote) writes = Math.max(0, writes - 1);
      for (const s of owed.keys()) if (s <= seq) owed.delete(s);
      settle(paidRecord(seq, false, !wrote));
    },
    paidOne(seq) {
      writes = Math.max(0, writes - 1);
      owed.delete(seq);
      settle(paidRecord(seq, true));
    },
  };
}

// The worker's side of the reply ledger (see supervisor/reply-ledger.ts): records appended to a
// file in the supervisor's run directory that the supervisor opened for it (fd 5, O_APPEND), one
// write(2) each, so a record is in the kernel before the next step happens; emptied (ftruncate)
// whenever nothing is owed, so it stays a few records long. The supervisor reads it only when a
// worker has died: no wakeup of the supervisor per request.

import fs = require('fs');
import { OwedRequest, owedRecord, paidRecord, stepRecord } from '../supervisor/reply-ledger';

export interface LedgerWriter {
  /** Requests read from the channel, before any of them runs. */
  owe(requests: OwedRequest[]): void;
  step(seq: number, step: 'started' | 'done' | 'failed'): void;
  /** Every reply up to SEQ is in the kernel. */
  paid(seq: number): void;
  /** The reply to SEQ is in the kernel, ahead of earlier ones. */
  paidOne(seq: number): void;
}

export function openLedgerWriter(fd: number, onError: (e: Error) => void): LedgerWriter {
  let broken = false;
  const owed = new Set<number>();
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
  const append = (text: string): void => guard(() => {
    for (let off = 0; off < text.length;) off += fs.writeSync(fd, off ? text.slice(off) : text, null, 'latin1');
  });
  return {
    owe(requests) {
      for (const r of requests) owed.add(r.seq);
      append(requests.map(owedRecord).join(''));
    },
    step: (seq, step) => append(stepRecord(seq, step)),
    paid(seq) {
      for (const s of owed) if (s <= seq) owed.delete(s);
      if (owed.size === 0) guard(() => fs.ftruncateSync(fd, 0));
      else append(paidRecord(seq));
    },
    paidOne(seq) {
      if (!owed.delete(seq)) return;
      if (owed.size === 0) guard(() => fs.ftruncateSync(fd, 0));
      else append(paidRecord(seq, true));
    },
  };
}

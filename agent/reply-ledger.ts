// The worker's side of the reply ledger (see supervisor/reply-ledger.ts): one blocking write(2)
// per record on the pipe the supervisor gave it, so each record is in the kernel before the next
// step happens. The supervisor reads the pipe all the time; a write that fails (the supervisor is
// gone) stops the ledger, and the worker follows its supervisor out anyway.

import * as fs from 'fs';
import { OwedRequest, owedRecord, paidRecord, stepRecord } from '../supervisor/reply-ledger';

export interface LedgerWriter {
  /** Requests read from the channel, before any of them runs. */
  owe(requests: OwedRequest[]): void;
  step(seq: number, step: 'started' | 'done' | 'failed'): void;
  /** Every reply up to SEQ is in the kernel. */
  paid(seq: number): void;
}

export function openLedgerWriter(fd: number, onError: (e: Error) => void): LedgerWriter {
  let broken = false;
  const write = (text: string): void => {
    if (broken) return;
    try {
      // Records are ASCII; a pipe takes a write this small whole.
      for (let off = 0; off < text.length;) off += fs.writeSync(fd, off ? text.slice(off) : text, null, 'latin1');
    } catch (e) {
      broken = true;
      onError(e as Error);
    }
  };
  return {
    owe: (requests) => write(requests.map(owedRecord).join('')),
    step: (seq, step) => write(stepRecord(seq, step)),
    paid: (seq) => write(paidRecord(seq)),
  };
}

// The start counter signed into every heartbeat: it grows at each supervisor start, so the
// collector can tell a later epoch from a replayed earlier one, also across reboots. Kept in
// STATE_DIR/heartbeat-start (decimal text, written as .new then renamed) and seeded from the wall
// clock in milliseconds, so a wiped state directory still moves forward while the clock is sane.

import path = require('path');
import { ensurePrivateDir, readPrivateFile, writeFileAtomic } from './atomic-file';

/** The counter for this start: above the saved one and the clock; saved before it is used. */
export function nextStartCounter(stateDir: string, warn: (why: string) => void): bigint {
  const file = path.join(stateDir, 'heartbeat-start');
  let saved = 0n;
  try { saved = BigInt(readPrivateFile(file, 64).trim()); } catch { /* absent or cut: the clock leads */ }
  const now = BigInt(Date.now());
  const next = saved >= now ? saved + 1n : now;
  try {
    ensurePrivateDir(stateDir);
    // No fsync: a value lost in a power cut is below the clock at the next start, or equal, which
    // the collector takes once the old epoch has fallen silent.
    writeFileAtomic(file, `${next}\n`, { fsync: false });
  } catch (e) {
    warn(`start counter not saved: ${(e as Error).message}`);
  }
  return next;
}

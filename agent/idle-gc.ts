// After a burst of requests the worker holds garbage promoted to old space that no collection
// reclaims while it sits idle: V8 collects when JavaScript allocates, and an idle agent allocates
// nothing. One compacting full collection once a burst has ended gives those pages back.
// Measured on 100k mixed requests (Pss_Anon of the worker 10 s after): +10.0 MiB without, +5.7 MiB
// with, while replies were still a Buffer each; with string writes (raw-stream.ts) bench/core.mjs
// gives +3.4 MiB, mostly V8 pages (old space and code) that V8 keeps. The young generation (two
// 1 MiB semi-spaces, both touched by any burst) shrinks only at a full collection after V8 has seen
// a low allocation rate over 5 s: a second round at 6 s of quiet brings the worker 10 s after
// 100k requests from 11.1 to 9.0 MiB (bench/core.mjs, Node 20).

import { collectionAfterStart } from '../supervisor/memory-reducer';

export interface IdleCollector {
  /** Count one request (or N: a large one weighs as much as many small ones). */
  request(n?: number): void;
}

/**
 * Runs COLLECT each time the channel has been quiet for one of QUIET_MS (ascending), after at
 * least AFTER_REQUESTS requests; it looks every STEP_MS meanwhile. A request after the first
 * collection ends the round: a lightly polled agent is not woken up to wait for the later ones.
 * No timer is armed below that count, so an idle or lightly polled agent never wakes up for this.
 */
export function createIdleCollector(afterRequests: number, quietMs: readonly number[], collect: () => void, stepMs = quietMs[0] / 2): IdleCollector {
  let count = 0;
  let seen = 0;
  let armed = false;
  let quiet = 0;
  let stage = 0;
  const arm = (): void => { armed = true; seen = count; setTimeout(check, stepMs).unref(); };
  const end = (): void => { armed = false; count -= seen; seen = quiet = stage = 0; if (count >= afterRequests) arm(); };
  const check = (): void => {
    if (count !== seen) {
      if (stage > 0) { end(); return; }
      quiet = 0;
      arm();
      return;
    }
    quiet += stepMs;
    if (quiet >= quietMs[stage]) { stage++; collect(); }
    if (stage < quietMs.length) arm(); else end();
  };
  return {
    request(n = 1) {
      if ((count += n) >= afterRequests && !armed) arm();
    },
  };
}

/**
 * Where V8 cannot start its memory reducer early (Node 16: at 8 s), runs COLLECT once, as long
 * after start as the supervisor does (see memory-reducer.ts). True when it is scheduled.
 */
export function collectAfterStart(v8Version: string, collect: () => void, ms = collectionAfterStart(v8Version)): boolean {
  if (ms === null) return false;
  setTimeout(collect, ms).unref();
  return true;
}

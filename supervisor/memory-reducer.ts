// V8 gives back the pages a process touched while starting (both semi-spaces of the young
// generation, code, large objects) only when its memory reducer runs: 8 s after start on Node 20,
// 30 s on Node 26, and later still while the process allocates. Measured (bench/core.mjs, Node 20,
// Pss_Anon of supervisor + worker 5 s after start): 17.4 MiB with V8's defaults, 14.3 with these.
// Node 16's V8 (9.4) has no start-delay flag: there each process runs two compacting full
// collections itself, 4 s after its start (see collectionAfterStart).

import v8 = require('v8');

/**
 * The V8 flags that start the memory reducer 1 s after start and let it run although the process
 * still allocates; none on a V8 that does not know the delay flag (it would print "unrecognized flag").
 */
export function memoryReducerFlags(v8Version: string): string[] {
  return parseInt(v8Version) < 11 ? [] : ['--gc-memory-reducer-start-delay-ms=1000', '--optimize-for-size'];
}

/** How long after its start a process collects by itself where V8's reducer cannot start early. */
const COLLECT_AFTER_START_MS = 4000;

/**
 * When a process on this V8 collects by itself after start (ms), or null when V8's reducer starts
 * early. V8 shrinks the young generation only once the allocation rate it measured over its last
 * 5 s drops under 1 KB/ms: ~4 s after a start for the supervisor, 4-5 s for the worker. Measured
 * on Node 16 (Pss_Anon of the pair 5 s after start): 19.6 MiB without, 16.3 with these at 4 s
 * (medians of 5); at 3 s 16.6, at 4.5 s 15.6 (medians of 3). At 10 s unchanged (16.5).
 */
export function collectionAfterStart(v8Version: string): number | null {
  return memoryReducerFlags(v8Version).length ? null : COLLECT_AFTER_START_MS;
}

/**
 * For the supervisor, which Node starts without flags: early enough, before V8 schedules the reducer.
 * (Set this way in the worker, at the top of its main, they came too late: its reducer ran at 8-10 s;
 * the worker gets them on its command line.) Where V8 has no such flag, the collections instead.
 */
export function startMemoryReducerEarly(): void {
  const flags = memoryReducerFlags(process.versions.v8);
  if (flags.length) v8.setFlagsFromString(flags.join(' '));
  else setTimeout(() => v8FullGc()(), COLLECT_AFTER_START_MS).unref();
}

/**
 * The flag that makes every full collection compact, by the V8 of the runtime we run on: V8 10
 * (Node 18) renamed it, and an unknown name prints "Error: unrecognized flag" at every start.
 */
export function compactFlag(v8Version: string): string {
  return parseInt(v8Version) >= 10 ? '--compact-on-every-full-gc' : '--always-compact';
}

/**
 * V8's own full collection, compacting so that sparse pages are emptied and released. Run twice:
 * when V8 has seen a low allocation rate (its last 5 s of collections), a full collection shrinks
 * the young generation, and the second one gives back the semi-space pages the first vacated.
 */
export function v8FullGc(): () => void {
  v8.setFlagsFromString(`--expose-gc ${compactFlag(process.versions.v8)}`);
  // vm is loaded here, not at start: a Node 20 supervisor never needs it.
  const gc = (require('vm') as typeof import('vm')).runInNewContext('gc') as () => void;
  return () => { gc(); gc(); };
}

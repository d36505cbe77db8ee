// V8 gives back the pages a process touched while starting (both semi-spaces of the young
// generation, code, large objects) only when its memory reducer runs: 8 s after start on Node 20,
// 30 s on Node 26, and later still while the process allocates. Measured (bench/core.mjs, Node 20,
// Pss_Anon of supervisor + worker 5 s after start): 17.4 MiB with V8's defaults, 14.3 with these.
// Node 16's V8 (9.4) has no start-delay flag: there the reducer runs at 8 s whatever we do.

import v8 = require('v8');

/**
 * The V8 flags that start the memory reducer 1 s after start and let it run although the process
 * still allocates; none on a V8 that does not know the delay flag (it would print "unrecognized flag").
 */
export function memoryReducerFlags(v8Version: string): string[] {
  return parseInt(v8Version) < 11 ? [] : ['--gc-memory-reducer-start-delay-ms=1000', '--optimize-for-size'];
}

/**
 * For the supervisor, which Node starts without flags: early enough, before V8 schedules the reducer.
 * (Set this way in the worker, at the top of its main, they came too late: its reducer ran at 8-10 s;
 * the worker gets them on its command line.)
 */
export function startMemoryReducerEarly(): void {
  v8.setFlagsFromString(memoryReducerFlags(process.versions.v8).join(' '));
}

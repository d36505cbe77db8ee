// Why a worker died, from what the supervisor can observe: exit code or signal, whether the
// supervisor itself sent the signal, the tail of the worker's stderr, and the OOM-kill counters.

export type DeathReason = 'clean' | 'crash' | 'signal' | 'heap-oom' | 'kernel-oom' | 'hung';

export interface DeathFacts {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The supervisor sent SIGKILL because the worker stopped making progress. */
  killedAsHung: boolean;
  /** The supervisor asked the worker to stop (shutdown or handover). */
  stopRequested: boolean;
  /** Last bytes the worker wrote to stderr. */
  stderrTail: string;
  /** An OOM-kill counter (the worker's cgroup, or the whole system) went up during its life. */
  oomKillCounted: boolean;
}

// V8 aborts with SIGABRT at its heap limit and prints this first.
const HEAP_LIMIT = /Reached heap limit|JavaScript heap out of memory|Allocation failed - process out of memory/;

export function classifyDeath(f: DeathFacts): DeathReason {
  if (f.killedAsHung) return 'hung';
  if (f.signal === 'SIGABRT' && HEAP_LIMIT.test(f.stderrTail)) return 'heap-oom';
  // V8 may also exit with code 134 when it aborts from a non-main thread.
  if (f.code === 134 && HEAP_LIMIT.test(f.stderrTail)) return 'heap-oom';
  if (f.signal === 'SIGKILL' && f.oomKillCounted) return 'kernel-oom';
  if (f.stopRequested && (f.code === 0 || f.signal === 'SIGTERM' || f.signal === 'SIGKILL')) return 'clean';
  if (f.signal) return 'signal';
  return f.code === 0 ? 'clean' : 'crash';
}

// Why a worker died, from what the supervisor can observe: exit code or signal, whether the
// supervisor itself sent the signal, the tail of the worker's stderr, and evidence of an OOM kill.

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
  /**
   * Evidence that the kernel OOM-killed this worker: the OOM count of a cgroup holding only our
   * processes rose, or the kernel log names its pid. Another program's OOM kill is no evidence.
   */
  oomKillEvidence: boolean;
}

// V8 aborts with SIGABRT at its heap limit and prints this first.
const HEAP_LIMIT = /Reached heap limit|JavaScript heap out of memory|Allocation failed - process out of memory/;

export function classifyDeath(f: DeathFacts): DeathReason {
  // The kernel's word about this very worker outranks our watchdog: a worker that stalls under
  // memory pressure may be killed as hung and by the OOM killer in the same moment.
  if (f.signal === 'SIGKILL' && f.oomKillEvidence) return 'kernel-oom';
  if (f.killedAsHung) return 'hung';
  if (f.signal === 'SIGABRT' && HEAP_LIMIT.test(f.stderrTail)) return 'heap-oom';
  // V8 may also exit with code 134 when it aborts from a non-main thread.
  if (f.code === 134 && HEAP_LIMIT.test(f.stderrTail)) return 'heap-oom';
  if (f.stopRequested && (f.code === 0 || f.signal === 'SIGTERM' || f.signal === 'SIGKILL')) return 'clean';
  // An outside signal; for SIGKILL without evidence: killed (SIGKILL), cause unknown.
  if (f.signal) return 'signal';
  return f.code === 0 ? 'clean' : 'crash';
}

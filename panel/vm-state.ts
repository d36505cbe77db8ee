// What the panel shows for one VM, from its last authentic beat and how old that beat is: a pure
// function, tested with a table. docs/heartbeat.md lists the states and their rules.

import type { HeartbeatPayload } from '../supervisor/heartbeat-packet';

export type VmState =
  | 'never-seen' | 'working' | 'alive-not-working' | 'crash-looping' | 'oom-killed' | 'hung' | 'stopped' | 'silent' | 'auth-failing';

export const VM_STATES: readonly VmState[] = ['never-seen', 'working', 'alive-not-working', 'crash-looping', 'oom-killed', 'hung', 'stopped', 'silent', 'auth-failing'];

export function classify(p: HeartbeatPayload, beatAgeMs: number, silentAfterIntervals = 3): { state: VmState; reason: string } {
  const c = classifyBeat(p, beatAgeMs, silentAfterIntervals);
  // The beats may come from a copy of the VM that had this id (its image's config and key): say so.
  return p.cloned ? { ...c, reason: `${c.reason}; the agent found this machine to be a clone or a new instance` } : c;
}

function classifyBeat(p: HeartbeatPayload, beatAgeMs: number, silentAfterIntervals: number): { state: VmState; reason: string } {
  const interval = p.interval_ms;
  // The supervisor said it stops: a clean stop is never shown as a dead VM, however long ago.
  if (p.stopping) return { state: 'stopped', reason: `the agent stopped cleanly ${Math.round(beatAgeMs / 1000)} s ago` };
  if (beatAgeMs > silentAfterIntervals * interval) return { state: 'silent', reason: `no heartbeat for ${Math.round(beatAgeMs / 1000)} s` };
  const hold = 3 * interval;
  const last = p.last_exit;
  const recent = last !== null && last.ago_ms + beatAgeMs < hold;
  const w = p.worker;
  if (w.state === 'backoff' || (p.restarts.failures_10m >= 3 && recent)) {
    return { state: 'crash-looping', reason: `${p.restarts.failures_10m} failures in 10 min${last ? `, last: ${last.reason}` : ''}` };
  }
  if (recent && (last!.reason === 'kernel-oom' || last!.reason === 'heap-oom')) {
    return { state: 'oom-killed', reason: last!.reason === 'kernel-oom' ? 'killed by the kernel OOM killer' : 'worker reached its V8 heap limit' };
  }
  const stale = w.progress_age_ms !== null && w.progress_age_ms > 2 * interval;
  if (w.state === 'hung' || (recent && last!.reason === 'hung') || ((w.state === 'ready' || w.state === 'busy') && stale)) {
    return { state: 'hung', reason: w.state === 'hung' || stale ? 'worker stopped making progress' : 'worker was killed as hung' };
  }
  if ((w.state === 'ready' || w.state === 'busy') && (p.channel.state === 'absent' || p.channel.state === 'busy' || p.channel.state === 'error')) {
    return { state: 'alive-not-working', reason: `channel ${p.channel.state}` };
  }
  if (w.state === 'ready' || w.state === 'busy') return { state: 'working', reason: w.state };
  return { state: 'alive-not-working', reason: `worker ${w.state}${last ? `, last exit: ${last.reason}` : ''}` };
}

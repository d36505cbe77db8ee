// When to start the next worker generation after a death: a pure function of the deaths seen and
// the clock, so it is tested with a table. It never gives up.

import type { DeathReason } from './death';

export interface RestartPolicyConfig {
  /** Minimum time between two spawns (s6 and runit use 1 s). */
  floorMs: number;
  /** Delay after the second consecutive failure; doubles with each further one. */
  baseMs: number;
  /** Upper bound of the backoff delay. */
  capMs: number;
  /** A worker that lived this long clears the failure count. */
  stableMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicyConfig = {
  floorMs: 500,
  baseMs: 500,
  capMs: 30_000,
  stableMs: 60_000,
};

export interface RestartState {
  /** Consecutive failures (deaths the worker caused) not yet cleared by a stable run. */
  failures: number;
  /** Monotonic ms of the last spawn, or null before the first. */
  lastSpawnAt: number | null;
}

export interface Death {
  reason: DeathReason;
  /** Monotonic ms of the death. */
  at: number;
  /** Monotonic ms the dead generation was spawned. */
  spawnedAt: number;
}

export interface RestartDecision {
  delayMs: number;
  state: RestartState;
}

/** Deaths the worker is responsible for; an outside kill or a clean exit is not a failure. */
export function isFailure(reason: DeathReason): boolean {
  return /^(crash|heap-oom|kernel-oom|hung)$/.test(reason);
}

export function backoffDelay(failures: number, cfg: RestartPolicyConfig): number {
  if (failures <= 1) return 0;
  return Math.min(cfg.capMs, cfg.baseMs * 2 ** Math.min(failures - 2, 30));
}

export function decideRestart(state: RestartState, death: Death, cfg: RestartPolicyConfig = DEFAULT_RESTART_POLICY): RestartDecision {
  const lived = death.at - death.spawnedAt;
  let failures = lived >= cfg.stableMs ? 0 : state.failures;
  if (isFailure(death.reason)) failures += 1;
  const floorWait = state.lastSpawnAt === null ? 0 : Math.max(0, state.lastSpawnAt + cfg.floorMs - death.at);
  return {
    delayMs: Math.max(backoffDelay(failures, cfg), floorWait),
    state: { failures, lastSpawnAt: state.lastSpawnAt },
  };
}

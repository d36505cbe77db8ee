// The supervisor's bookkeeping, kept in RUN_DIR/state.json (root-only, written atomically), so a
// restarted supervisor continues the backoff and the failure count instead of starting a restart
// storm, and `phoenix-ga status` can show the view with `cat`-able data. Monotonic times
// (*_mono, ms) are comparable across processes of the same boot only; `boot` tells which.

import path = require('path');
import { readJsonFile, writeFileAtomic } from './atomic-file';
import type { DeathReason } from './death';
import type { WorkerState } from './heartbeat-packet';

export interface DeathRecord {
  reason: DeathReason;
  code: number | null;
  signal: string | null;
  at_mono: number;
  at: string;
  lifetime_ms: number;
  generation: number;
}

export interface PersistedState {
  format: 1;
  boot: string;
  supervisor: { pid: number; version: string; epoch: string; started_mono: number };
  worker: { state: WorkerState; pid: number | null; start_time: number | null; generation: number };
  restart: { failures: number; last_spawn_mono: number | null };
  restarts_total: number;
  deaths: DeathRecord[];
  channel: { kind: string; path: string; state: string };
  heartbeat: { enabled: boolean; interval_ms: number };
  updated_mono: number;
  updated_at: string;
}

export interface StateStore {
  load(): PersistedState | null;
  save(s: PersistedState): void;
}

export function stateFile(runDir: string): string {
  return path.join(runDir, 'state.json');
}

export function createStateStore(runDir: string, onError: (e: Error) => void): StateStore {
  const file = stateFile(runDir);
  // A full or read-only run directory fails every save: say so once, and again after a success.
  let failing = false;
  return {
    load() {
      const s = readJsonFile<PersistedState>(file);
      return s && s.format === 1 && Array.isArray(s.deaths) ? s : null;
    },
    save(s) {
      try {
        // No fsync: the run dir is /run (tmpfs, gone at reboot anyway); rename keeps it atomic
        // for readers, and the write stays off the restart path's critical time.
        writeFileAtomic(file, JSON.stringify(s, null, 1) + '\n', { fsync: false });
        failing = false;
      } catch (e) {
        if (!failing) onError(e as Error);
        failing = true;
      }
    },
  };
}

/** Monotonic milliseconds since boot (CLOCK_MONOTONIC), the same clock in every process. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

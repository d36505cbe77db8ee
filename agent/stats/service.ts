// The statistics part of the worker: sampler + history + the panel's settings for them, which
// are kept in RUN_DIR/stats-config.json so a restarted worker keeps what the panel chose.

import fs = require('fs');
import path = require('path');
import { readPrivateFile } from '../../supervisor/atomic-file';
import type { Host } from '../os/host';
import { createHistory, History } from './history';
import { Sampler, startSampler } from './sampler';

export interface StatsService {
  history: History;
  sampler: Sampler;
  configure(c: { intervalMs?: number; capacity?: number }): { interval: number; history: number };
}

const whole = (v: unknown, min: number, max: number): number | undefined => (Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? v as number : undefined);

/** What the file holds, within the ranges phoenix-set-stats-config takes; anything else is left to the defaults. */
function validSaved(v: unknown): { intervalMs?: number; capacity?: number } {
  const o = (v && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  const intervalMs = whole(o.intervalMs, 1000, 3_600_000);
  return { intervalMs: intervalMs !== undefined && intervalMs % 1000 === 0 ? intervalMs : undefined, capacity: whole(o.capacity, 10, 10_000) };
}

export function startStats(opts: { host: Host; runDir: string | null; intervalMs: number; capacity: number; now: () => number; onError(e: Error): void }): StatsService {
  const cfgFile = opts.runDir ? path.join(opts.runDir, 'stats-config.json') : null;
  let saved: { intervalMs?: number; capacity?: number } = {};
  try { if (cfgFile) saved = validSaved(JSON.parse(readPrivateFile(cfgFile))); } catch { /* defaults */ }
  const boot = (opts.host.read('/proc/sys/kernel/random/boot_id') ?? '').trim();
  const history = createHistory({
    dir: opts.runDir,
    boot,
    capacity: saved.capacity ?? opts.capacity,
    onError: opts.onError,
  });
  const sampler = startSampler({ host: opts.host, history, intervalMs: saved.intervalMs ?? opts.intervalMs, now: opts.now, onError: opts.onError });
  return {
    history,
    sampler,
    configure(c) {
      if (c.intervalMs !== undefined && c.intervalMs !== sampler.intervalMs()) sampler.setIntervalMs(c.intervalMs);
      if (c.capacity !== undefined) history.setCapacity(c.capacity);
      const now = { intervalMs: sampler.intervalMs(), capacity: history.capacity() };
      if (cfgFile) {
        fs.writeFileSync(`${cfgFile}.new`, JSON.stringify(now) + '\n', { mode: 0o600 });
        fs.renameSync(`${cfgFile}.new`, cfgFile);
      }
      return { interval: now.intervalMs / 1000, history: now.capacity };
    },
  };
}

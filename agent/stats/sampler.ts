// Samples the counters at an interval the panel can set (default 60 s; the first sample comes
// 5 s after start so a fresh agent has something to show) into the history.

import type { Host } from '../os/host';
import { Counters, heldReads, readCounters } from './counters';
import type { History } from './history';
import { computeSample, Sample } from './sample';

export interface Sampler {
  intervalMs(): number;
  setIntervalMs(ms: number): void;
  /** A sample of now against the last reading, not stored (for a history that is still empty). */
  current(): Promise<Sample>;
  /** CPU time and processes spawned by the last sample, for the benchmark. */
  lastCost(): { cpuUs: number; spawned: number } | null;
  stop(): void;
}

const FIRST_SAMPLE_MS = 5000;
const BASELINE_MS = 1000;

export function startSampler(opts: { host: Host; history: History; intervalMs: number; now: () => number; onError(e: Error): void }): Sampler {
  let interval = opts.intervalMs;
  let prev: Counters | null = null;
  let timer: NodeJS.Timeout | null = null;
  let cost: { cpuUs: number; spawned: number } | null = null;
  const read = heldReads(opts.host);
  const schedule = (ms: number): void => {
    timer = setTimeout(tick, ms);
    timer.unref();
  };
  const tick = async (): Promise<void> => {
    try {
      const cpu0 = process.cpuUsage();
      const spawned0 = opts.host.spawned();
      const cur = await readCounters(opts.host, opts.now, read);
      // Numbered after what the history holds: a sample it failed to store leaves no gap.
      if (prev) opts.history.push(computeSample(prev, cur, (opts.history.last() ?? 0) + 1, Date.now()));
      prev = cur;
      const c = process.cpuUsage(cpu0);
      cost = { cpuUs: c.user + c.system, spawned: opts.host.spawned() - spawned0 };
    } catch (e) {
      opts.onError(e as Error);
    }
    schedule(interval);
  };
  // A first reading is the baseline the first sample's rates are measured against: a second
  // after start, off the path to the first reply (it reads a dozen /proc files).
  const baseline = setTimeout(() => {
    if (!prev) readCounters(opts.host, opts.now, read).then((c) => { prev ??= c; }, (e) => opts.onError(e as Error));
  }, Math.min(BASELINE_MS, interval / 2));
  baseline.unref();
  schedule(Math.min(FIRST_SAMPLE_MS, interval));
  return {
    intervalMs: () => interval,
    setIntervalMs(ms) {
      interval = ms;
      if (timer) clearTimeout(timer);
      schedule(ms);
    },
    async current() {
      const cur = await readCounters(opts.host, opts.now, read);
      // Asked before the baseline was read: this reading becomes it, and rates are not known yet.
      const base = prev;
      prev ??= cur;
      return computeSample(base, cur, 0, Date.now());
    },
    lastCost: () => cost,
    stop() { clearTimeout(baseline); if (timer) clearTimeout(timer); },
  };
}

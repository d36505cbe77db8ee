// A rollout of one release to many agents: a canary fraction first, then waves, each target updated
// as `phoenix-ga-ctl update` does it (upload with resume, apply, wait for the result); it halts,
// leaving the rest untouched, as soon as the failures so far pass the allowed rate.

export interface RolloutOptions {
  /** Fraction of the targets in the canary wave (at least one target). */
  canary: number;
  /** Fraction of the targets in each later wave (at least one target). */
  wave: number;
  /** Failures / targets done above which the rollout stops before the next wave. */
  maxFailureRate: number;
  /** Targets updated at the same time within a wave. */
  parallel: number;
}

export interface TargetResult { target: string; ok: boolean; line: string }
export interface RolloutResult { waves: TargetResult[][]; halted: string | null; untouched: string[] }

export const DEFAULT_ROLLOUT: RolloutOptions = { canary: 0.05, wave: 0.25, maxFailureRate: 0.1, parallel: 4 };

/** The waves: the canary, then equal waves; every target in exactly one, in the given order. */
export function planWaves(targets: string[], o: Pick<RolloutOptions, 'canary' | 'wave'>): string[][] {
  if (!targets.length) return [];
  const size = (f: number) => Math.max(1, Math.ceil(targets.length * f));
  const waves = [targets.slice(0, size(o.canary))];
  for (let i = waves[0].length; i < targets.length; i += size(o.wave)) waves.push(targets.slice(i, i + size(o.wave)));
  return waves;
}

/** Runs TASKS with at most N at a time, results in the tasks' order. */
async function limited<T>(tasks: Array<() => Promise<T>>, n: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => { while (next < tasks.length) { const i = next++; out[i] = await tasks[i](); } };
  await Promise.all(Array.from({ length: Math.min(n, tasks.length) }, worker));
  return out;
}

export async function rollout(targets: string[], o: RolloutOptions, updateOne: (target: string) => Promise<TargetResult>, log: (line: string) => void): Promise<RolloutResult> {
  const plan = planWaves(targets, o);
  const done: TargetResult[][] = [];
  for (const [i, wave] of plan.entries()) {
    log(`${i === 0 ? 'canary' : `wave ${i}`}: ${wave.length} target(s)`);
    const results = await limited(wave.map((t) => () => updateOne(t).catch((e: Error) => ({ target: t, ok: false, line: e.message }))), o.parallel);
    for (const r of results) log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.target}: ${r.line}`);
    done.push(results);
    const all = done.flat();
    const failed = all.filter((r) => !r.ok).length;
    if (failed / all.length > o.maxFailureRate && i < plan.length - 1) {
      return { waves: done, halted: `${failed} of ${all.length} updates failed, over the allowed ${o.maxFailureRate}; halted before ${plan.length - 1 - i} more wave(s)`, untouched: plan.slice(i + 1).flat() };
    }
  }
  return { waves: done, halted: null, untouched: [] };
}

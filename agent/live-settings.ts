// The worker's part of a config reload (phoenix-set-config, SIGHUP of the supervisor): the
// allow/block lists and the statistics settings take effect in this worker, without a new
// generation; the supervisor hands the same values to the next one. Only what changed in the
// supervisor's settings is applied, so a `phoenix-set-stats` choice stays until the config changes.

import type { Settings } from '../supervisor/settings';
import type { RpcPolicy } from './dispatcher';
import type { StatsService } from './stats/service';

export type LiveSettings = Pick<Settings, 'allowRpcs' | 'blockRpcs' | 'statsIntervalMs' | 'statsHistory'>;

export function liveSettingsApplier(start: LiveSettings, to: { setPolicy(p: RpcPolicy): void; stats: StatsService; onError(e: Error): void }): (s: LiveSettings) => void {
  let last = start;
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
  return (s) => {
    if (!same(s.allowRpcs, last.allowRpcs) || !same(s.blockRpcs, last.blockRpcs)) to.setPolicy({ allow: s.allowRpcs, block: s.blockRpcs });
    const intervalMs = s.statsIntervalMs !== last.statsIntervalMs ? s.statsIntervalMs : undefined;
    const capacity = s.statsHistory !== last.statsHistory ? s.statsHistory : undefined;
    // A run directory that cannot be written keeps the choice for this worker only.
    try { if (intervalMs !== undefined || capacity !== undefined) to.stats.configure({ intervalMs, capacity }); } catch (e) { to.onError(e as Error); }
    last = { allowRpcs: s.allowRpcs, blockRpcs: s.blockRpcs, statsIntervalMs: s.statsIntervalMs, statsHistory: s.statsHistory };
  };
}

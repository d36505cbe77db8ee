// phoenix-get-config: the configuration in effect (the supervisor's settings), each key with where
// its value came from: the built-in default, a line of the config file, a command-line flag, or a
// line set over the channel (with its time). Of the heartbeat key only its id and whether one is
// set; never the key.

import fs = require('fs');
import path = require('path');
import { readHeartbeatKey } from '../../supervisor/heartbeat';
import { loadSettings } from '../../supervisor/settings';
import type { StatsService } from '../stats/service';
import { QgaError } from '../wire/reply';
import { checkValue, configPath, fileSources, flagFor, LineSource, LIVE, SHOW } from './config-file';
import { ConfigDeps, settingsOf } from './config';
import { readPrivate } from './private-file';

export interface KeySource {
  value: unknown;
  from: 'default' | 'file' | 'flag' | 'channel' | 'phoenix-set-stats' | 'allow-rpcs';
  /** FILE:LINE, --flag, or the statistics settings file. */
  where?: string;
  /** When the channel set it (the marker above its line). */
  set_at?: string;
  /** The file says otherwise: its value, and when it applies. */
  in_file?: unknown;
  applies?: 'at the next reload' | 'at the next start';
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export async function getConfig(d: ConfigDeps & { stats: StatsService }): Promise<Record<string, unknown>> {
  const view = await d.supervisor.status() as { heartbeat?: unknown };
  const s = settingsOf(view);
  const file = configPath(s);
  let text: string | null = null;
  let problem: string | null = null;
  let lines = new Map<string, LineSource>();
  try {
    text = await readPrivate(d.sys, file, 0o022);
    if (text !== null) lines = fileSources(text, file);
    // What the next start (or reload) would say of the file as it is now.
    const now = text;
    if (now !== null) loadSettings(new Map(s.flags), () => now);
  } catch (e) {
    problem = e instanceof QgaError ? e.desc : (e as Error).message;
  }
  const keys: Record<string, KeySource> = {};
  for (const [key, show] of Object.entries(SHOW)) {
    const value = show(s);
    const flag = flagFor(s, key);
    const line = lines.get(key);
    const k: KeySource = flag ? { value, from: 'flag', where: flag }
      : line ? { value, from: line.byChannel !== null ? 'channel' : 'file', where: line.where, ...(line.byChannel ? { set_at: line.byChannel } : {}) }
        : { value, from: key === 'block-rpcs' && s.allowRpcs ? 'allow-rpcs' : 'default' };
    if (!flag && line) {
      let inFile: unknown = null;
      try { inFile = show(checkValue(key, line.value)); } catch { /* shown as null: the line is broken */ }
      if (!same(inFile, value)) Object.assign(k, { in_file: inFile, applies: LIVE.includes(key) ? 'at the next reload' : 'at the next start' });
    }
    keys[key] = k;
  }
  // A phoenix-set-stats choice outlives the config value until the config changes (live-settings.ts).
  const stats: Record<string, number> = { 'stats-interval': d.stats.sampler.intervalMs() / 1000, 'stats-history': d.stats.history.capacity() };
  for (const [key, v] of Object.entries(stats)) {
    if (v !== keys[key].value) keys[key] = { value: v, from: 'phoenix-set-stats', where: path.join(s.runDir, 'stats-config.json'), in_file: keys[key].value };
  }
  return {
    config_file: { path: file, exists: text !== null, ...(problem ? { problem } : {}) },
    keys,
    key: keyState(s.heartbeatKeyFile),
    heartbeat: view.heartbeat,
  };
}

/** The heartbeat key file: whether a usable key is there and its id, or why not; never the key. */
function keyState(file: string): Record<string, unknown> {
  let changedAt: string | undefined;
  try { changedAt = fs.statSync(file).mtime.toISOString(); } catch { return { file, set: false }; }
  try {
    return { file, set: true, key_id: readHeartbeatKey(file).id, changed_at: changedAt };
  } catch (e) {
    return { file, set: false, problem: (e as Error).message, changed_at: changedAt };
  }
}

// phoenix-set-config: the heartbeat, the VM id, statistics and the allow/block lists set over the
// channel (a hosting company has no login in its customers' servers, only this channel). Every
// value is checked as the config file's line is, then the whole file as it would be is loaded as
// the supervisor will load it; only then are the key file and the config file written (root's,
// 0600, atomically) and the supervisor asked to reload. The key is never echoed, in no reply, log
// or error text (the command table marks it secret, so the journal leaves it out too).

import type { Settings } from '../../supervisor/settings';
import { loadSettings, SettingsError } from '../../supervisor/settings';
import { KEY_HEX } from '../../supervisor/heartbeat';
import { KEY_ID_PATTERN } from '../../supervisor/heartbeat-packet';
import type { System } from '../os/system';
import type { SupervisorLink } from '../supervisor-link';
import { QgaError } from '../wire/reply';
import { asText, checkValue, configPath, editConfigText, fileSources, flagFor, LIVE, SHOW } from './config-file';
import { readPrivate, writePrivate } from './private-file';

/** The config keys the channel may set (paths and the channel itself stay the operator's). */
export const CHANNEL_KEYS = ['heartbeat', 'vm-id', 'heartbeat-interval', 'stats-interval', 'stats-history', 'allow-rpcs', 'block-rpcs'] as const;
type ChannelKey = typeof CHANNEL_KEYS[number];

export type SetConfigArgs = { [K in ChannelKey]?: string | number | string[] } & { key?: string; 'key-id'?: string; reset?: ChannelKey[] };

export interface ConfigDeps {
  /** The system as the supervisor sees it ("/"): its config and key files. */
  sys: System;
  supervisor: Pick<SupervisorLink, 'status' | 'reload'>;
}

export interface Change { key: string; old: unknown; new: unknown }

const bad = (why: string): never => { throw new QgaError('GenericError', why); };

export function settingsOf(view: unknown): Settings {
  const v = view as { settings?: Settings; error?: string } | null;
  if (!v?.settings) throw new Error('the supervisor sent no settings');
  return v.settings;
}

/** The key file's line, checked as the supervisor reads it; errors say what is wrong, never the key. */
function keyLine(key: string, id: string | undefined): string {
  if (!/^[0-9a-fA-F]*$/.test(key)) bad("Parameter 'key' must be hex digits only (0-9 a-f); it contains other characters");
  if (!KEY_HEX.test(key)) bad(`Parameter 'key' must be 64 to 256 hex digits, an even count (32 to 128 bytes of key); got ${key.length}`);
  if (id !== undefined && (!KEY_ID_PATTERN.test(id) || id === '')) bad(`Parameter 'key-id' expected 1 to 32 of A-Z a-z 0-9 . _ : -, got '${id.slice(0, 64)}'`);
  return `${id ? `${id} ` : ''}${key.toLowerCase()}\n`;
}

/** Refuses a key that a command-line flag sets: the flag would win again at the next start. */
function refuseFlagged(s: Settings, key: string): void {
  const flag = flagFor(s, key);
  if (flag) bad(`Parameter '${key}' is set by the command-line flag ${flag}, which overrides the config file; remove the flag from the service's command line to set it over the channel`);
}

/** What the panel needs to reach the agent (sync) and to change its configuration again. */
const KEEP_ENABLED = ['guest-sync-delimited', 'phoenix-set-config'];

/** The channel must keep the one way it has to change the configuration again. */
function refuseLockout(s: Settings): void {
  const off = KEEP_ENABLED.filter((n) => s.blockRpcs.includes(n) || (s.allowRpcs !== null && !s.allowRpcs.includes(n)));
  if (off.length) bad(`Parameters 'allow-rpcs'/'block-rpcs' would disable ${off.join(' and ')}, and the panel could not change the configuration again; keep ${KEEP_ENABLED.join(' and ')} enabled (the config file in the server can disable them)`);
}

export async function setConfig(d: ConfigDeps, a: SetConfigArgs, at = new Date().toISOString()): Promise<Record<string, unknown>> {
  const before = settingsOf(await d.supervisor.status());
  // Each value as its config line, checked as that line would be.
  const set = new Map<string, string>();
  for (const key of CHANNEL_KEYS) {
    const v = a[key];
    if (v === undefined) continue;
    refuseFlagged(before, key);
    const text = asText(v);
    checkValue(key, text);
    set.set(key, text);
  }
  const reset = new Set<string>(a.reset ?? []);
  for (const key of reset) {
    if (set.has(key)) bad(`Parameter 'reset' names '${key}', which is also set: give one or the other`);
    refuseFlagged(before, key);
  }
  if (a['key-id'] !== undefined && a.key === undefined) bad("Parameter 'key-id' needs 'key': the key file holds both");
  const keyText = a.key !== undefined ? keyLine(a.key, a['key-id']) : null;
  if (!set.size && !reset.size && keyText === null) bad(`nothing to set: give at least one of ${[...CHANNEL_KEYS, 'key', 'reset'].join(', ')}`);

  // The whole file as it would be, loaded exactly as the supervisor will load it.
  const file = configPath(before);
  const current = await readPrivate(d.sys, file, 0o022);
  const lines = current === null ? new Map() : fileSources(current, file);
  for (const [key, text] of set) if (lines.get(key)?.value === text) set.delete(key);
  for (const key of reset) if (!lines.has(key)) reset.delete(key);
  const next = set.size || reset.size ? editConfigText(current, set, reset, at) : current;
  let after: Settings;
  try {
    after = loadSettings(new Map(before.flags), () => {
      if (next === null) throw Object.assign(new Error('no config file'), { code: 'ENOENT' });
      return next;
    });
  } catch (e) {
    if (e instanceof SettingsError) bad(`the configuration would not load with this change, so nothing was written: ${e.message}`);
    throw e;
  }
  refuseLockout(after!);

  // The key file: the one the supervisor reads, written only when the key or its id changes.
  const keyFile = before.heartbeatKeyFile;
  if (keyText !== null && after!.heartbeatKeyFile !== keyFile) bad(`the config file names another heartbeat-key-file (${after!.heartbeatKeyFile}) than the one in use (${keyFile}); restart the agent to take it, then set the key`);
  const oldKey = keyText === null ? null : await readPrivate(d.sys, keyFile, 0);
  const keyChanged = keyText !== null && oldKey?.trim() !== keyText.trim();
  const written: string[] = [];
  if (keyChanged) { writePrivate(d.sys, keyFile, keyText!); written.push(keyFile); }
  if (next !== current) {
    try {
      writePrivate(d.sys, file, next!);
    } catch (e) {
      // Both files or neither: the old key comes back.
      if (keyChanged) try { if (oldKey === null) d.sys.remove(keyFile); else writePrivate(d.sys, keyFile, oldKey); } catch { /* reported below */ }
      throw e;
    }
    written.push(file);
  }

  const view = await d.supervisor.reload() as { error?: string; heartbeat?: unknown };
  if (view.error) bad(`${written.length ? `${written.join(' and ')} written` : 'nothing written'}, but the supervisor kept its configuration: ${view.error}`);
  const now = settingsOf(view);
  const changed: Change[] = [];
  for (const key of LIVE) {
    const o = SHOW[key](before), n = SHOW[key](now);
    if (JSON.stringify(o) !== JSON.stringify(n)) changed.push({ key, old: o, new: n });
  }
  if (keyChanged) {
    const oldId = oldKey?.trim().split(/\s+/).length === 2 ? oldKey.trim().split(/\s+/)[0] : '';
    changed.push({ key: 'key', old: oldKey === null ? 'not set' : 'set', new: 'changed' });
    if (oldId !== (a['key-id'] ?? '')) changed.push({ key: 'key-id', old: oldId, new: a['key-id'] ?? '' });
  }
  const asked = [...CHANNEL_KEYS.filter((k) => a[k] !== undefined), ...(a.reset ?? []), ...(a.key !== undefined ? ['key'] : [])];
  return {
    changed,
    unchanged: asked.filter((k) => !changed.some((c) => c.key === k)),
    written,
    // Every key the channel sets applies live: the heartbeat in the supervisor, the lists and the
    // statistics settings in this worker (docs/configuration.md).
    worker_restarted: false,
    heartbeat: view.heartbeat,
  };
}

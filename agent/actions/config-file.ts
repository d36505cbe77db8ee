// The config file as text, for phoenix-set-config and phoenix-get-config: a key's value as the
// file writes it and as the commands show it, and the edit that sets or removes keys while every
// other line (comments, the order, the operator's own keys) stays as it was. A line set over the
// channel has a marker comment right above it, so `cat` and phoenix-get-config tell who set it.

import { DEFAULT_CONFIG_FILE, FLAG_KEYS, KEYS, parseConfigText, Settings, SettingsError } from '../../supervisor/settings';
import { QgaError } from '../wire/reply';

export const MARK = '# set over the channel (phoenix-set-config)';
const HEADER = '# phoenix-ga configuration (docs/configuration.md lists every key), written by phoenix-set-config.';

const sec = (ms: number): number => ms / 1000;
const hostPort = (t: Settings['heartbeat']): string => (t ? `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}` : 'off');

/** Each key's value in the settings, as the commands show it (seconds for times, lists as arrays). */
export const SHOW: Record<string, (s: Settings) => string | number | string[] | null> = {
  channel: (s) => `${s.channel.tty ? 'isa-serial' : s.channel.kind}:${s.channel.path}`,
  'run-dir': (s) => s.runDir,
  'state-dir': (s) => s.stateDir,
  'freeze-timeout': (s) => sec(s.freezeTimeoutMs),
  'log-file': (s) => s.logFile,
  'log-max-bytes': (s) => s.logMaxBytes,
  heartbeat: (s) => hostPort(s.heartbeat),
  'heartbeat-key-file': (s) => s.heartbeatKeyFile,
  'heartbeat-interval': (s) => sec(s.heartbeatIntervalMs),
  'vm-id': (s) => s.vmId,
  'hang-timeout': (s) => sec(s.hangTimeoutMs),
  'stop-grace': (s) => sec(s.stopGraceMs),
  'worker-heap-mb': (s) => s.workerHeapMb,
  'max-request-bytes': (s) => s.maxRequestBytes,
  'stats-interval': (s) => sec(s.statsIntervalMs),
  'stats-history': (s) => s.statsHistory,
  'allow-rpcs': (s) => s.allowRpcs,
  'block-rpcs': (s) => s.blockRpcs,
  'os-root': (s) => s.osRoot,
  'interfaces-order': (s) => s.interfacesOrder,
  'clock-heal': (s) => (s.clockHeal ? 'on' : 'off'),
  'clock-heal-max-step': (s) => sec(s.clockHealMaxStepMs),
  updates: (s) => s.updates,
  'update-max-bytes': (s) => s.updateMaxBytes,
  'regenerate-identity-on-clone': (s) => (s.regenerateIdentity ? 'yes' : 'no'),
};

/** The keys a reload applies without a restart (supervisor/service.ts LIVE_KEYS). */
export const LIVE = ['heartbeat', 'heartbeat-interval', 'vm-id', 'allow-rpcs', 'block-rpcs', 'stats-interval', 'stats-history', 'clock-heal', 'clock-heal-max-step', 'updates', 'update-max-bytes'];

/** A value given over the channel, as a config file line writes it. */
export function asText(v: string | number | string[]): string {
  return Array.isArray(v) ? v.join(', ') : String(v);
}

/** The file the supervisor reads: --config, else the default (which may not exist yet). */
export function configPath(s: Settings): string {
  return new Map(s.flags ?? []).get('config') ?? DEFAULT_CONFIG_FILE;
}

/** The command-line flag that sets KEY for this supervisor (flags override the file), or null. */
export function flagFor(s: Settings, key: string): string | null {
  const f = (s.flags ?? []).find(([flag]) => FLAG_KEYS[flag] === key);
  return f ? `--${f[0]}` : null;
}

/**
 * Checks one value exactly as the config file's line would be checked; the error is qemu-ga's
 * "Parameter 'KEY' ..." with the config file's own explanation.
 */
export function checkValue(key: string, text: string): Settings {
  const s = {} as Settings;
  try {
    KEYS[key](s, text, '', key);
  } catch (e) {
    if (!(e instanceof SettingsError)) throw e;
    throw new QgaError('GenericError', `Parameter '${key}' ${e.message.slice(`: ${key}: `.length)}`);
  }
  return s;
}

/** The key a `key = value` line sets, or null for comments, blank and broken lines. */
function lineKey(line: string): string | null {
  const t = line.trim();
  const eq = t.indexOf('=');
  return t === '' || t.startsWith('#') || eq < 1 ? null : t.slice(0, eq).trim();
}

/**
 * TEXT (null: no file yet) with the SET keys at their new values (in place where the file has the
 * key, else appended) and the RESET keys' lines removed (back to the default), each line set
 * preceded by the marker with the time AT.
 */
export function editConfigText(text: string | null, set: Map<string, string>, reset: Set<string>, at: string): string {
  const lines = text === null ? [HEADER] : text.replace(/\n$/, '').split('\n');
  const out: string[] = [];
  const done = new Set<string>();
  const marked = (key: string): string[] => [`${MARK} ${at}`, `${key} = ${set.get(key)}`];
  for (const line of lines) {
    const key = lineKey(line);
    if (key === null || (!set.has(key) && !reset.has(key))) { out.push(line); continue; }
    if (out.length && out[out.length - 1].startsWith(MARK)) out.pop();
    if (set.has(key)) { out.push(...marked(key)); done.add(key); }
  }
  const added = [...set.keys()].filter((k) => !done.has(k));
  if (added.length && out.length && out[out.length - 1].trim() !== '') out.push('');
  for (const k of added) out.push(...marked(k));
  return out.join('\n') + '\n';
}

export interface LineSource { where: string; value: string; byChannel: string | null }

/** Where each key is set in the file TEXT: its line, its raw value, and the marker's time if the channel set it. */
export function fileSources(text: string, file: string): Map<string, LineSource> {
  const lines = text.split('\n');
  const out = new Map<string, LineSource>();
  for (const [key, { value, where }] of parseConfigText(text, file)) {
    const n = Number(where.slice(where.lastIndexOf(':') + 1));
    const above = lines[n - 2] ?? '';
    out.set(key, { where, value, byChannel: above.startsWith(MARK) ? above.slice(MARK.length).trim() : null });
  }
  return out;
}

// Settings: defaults, then the config file, then command-line flags. Every value is checked at
// start and an error names the key (and the file line) and what was expected.

import fs = require('fs');
import net = require('net');
import os = require('os');
import path = require('path');
import { ID_PATTERN } from './heartbeat-packet';

export interface Settings {
  configFile: string | null;
  /** tty: an ISA serial port (raw mode is set on it, as qemu-ga's isa-serial). */
  channel: { kind: 'unix' | 'serial'; path: string; tty?: boolean };
  runDir: string;
  logFile: string;
  logMaxBytes: number;
  heartbeat: { host: string; port: number } | null;
  heartbeatKeyFile: string;
  heartbeatIntervalMs: number;
  vmId: string;
  workerHeapMb: number;
  hangTimeoutMs: number;
  stopGraceMs: number;
  maxRequestBytes: number;
  allowRpcs: string[] | null;
  blockRpcs: string[];
  testCommands: boolean;
  statsIntervalMs: number;
  statsHistory: number;
  stateDir: string;
  freezeTimeoutMs: number;
  /** The system tree the worker changes files in: "/" (a mounted image, or a test tree otherwise). */
  osRoot: string;
  /** Step the wall clock back to the RTC after time the guest did not live (a paused VM), at most this far. */
  clockHeal: boolean;
  clockHealMaxStepMs: number;
  /** guest-network-get-interfaces: the default route's interface and the NICs first, or qemu-ga's order. */
  interfacesOrder: 'as-is' | 'real-first' | 'real-only';
  /** Whether the panel may update the agent over the channel (docs/updates.md). */
  updates: 'panel' | 'off';
  /** The most an upload of a release may hold. */
  updateMaxBytes: number;
  /** On a clone or a new instance: a new /etc/machine-id and new SSH host keys (docs/configuration.md). */
  regenerateIdentity: boolean;
  testCrashAt: string | null;
  /** The command-line flags, kept to re-read the config file under them (a reload). */
  flags?: Array<[string, string]>;
}

export class SettingsError extends Error {}

export const DEFAULT_CONFIG_FILE = '/etc/phoenix-ga/phoenix-ga.conf';
// Running programs and reading or writing any file as root: off unless the operator turns them on.
export const DEFAULT_BLOCKED = ['guest-exec', 'guest-exec-status', 'guest-file-open', 'guest-file-close', 'guest-file-read', 'guest-file-write', 'guest-file-seek', 'guest-file-flush'];

type Raw = Map<string, { value: string; where: string }>;

/** Sets the key's value in S; KEY is the key's own name, for the error texts. */
type KeySpec = (s: Settings, value: string, where: string, key: string) => void;

const fail = (where: string, key: string, msg: string): never => {
  throw new SettingsError(`${where}: ${key}: ${msg}`);
};

function number(where: string, key: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) fail(where, key, `expected a number from ${min} to ${max}, got '${v}'`);
  return n;
}

/** Seconds in the file, milliseconds in the settings. */
const seconds = (where: string, key: string, v: string, min: number, max: number): number => Math.round(number(where, key, v, min, max) * 1000);

function integer(where: string, key: string, v: string, min: number, max: number): number {
  const n = number(where, key, v, min, max);
  if (!Number.isInteger(n)) fail(where, key, `expected a whole number, got '${v}'`);
  return n;
}

function rpcList(where: string, key: string, v: string): string[] {
  const names = v.split(',').map((x) => x.trim()).filter(Boolean);
  for (const n of names) if (!/^[a-z][a-z0-9-]{0,63}$/.test(n)) fail(where, key, `'${n}' is not a command name`);
  return names;
}

export function parseChannel(where: string, v: string): Settings['channel'] {
  const m = /^(unix|serial|isa-serial):(.+)$/.exec(v);
  if (m) m[2] = absolute(where, 'channel', m[2]);
  if (!m) fail(where, 'channel', `expected unix:/absolute/path, serial:/dev/... or isa-serial:/dev/ttyS..., got '${v}'`);
  return m![1] === 'isa-serial' ? { kind: 'serial', path: m![2], tty: true } : { kind: m![1] as 'unix' | 'serial', path: m![2] };
}

export function parseHostPort(where: string, key: string, v: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(v);
  const host = m ? (m[1] ?? m[2]) : '';
  const port = m ? Number(m[3]) : 0;
  // An address, not a name: a heartbeat must never wait for DNS.
  if (!m || net.isIP(host) === 0 || port < 1 || port > 65535) fail(where, key, `expected IPv4:PORT or [IPv6]:PORT, got '${v}'`);
  return { host, port };
}

export const KEYS: Record<string, KeySpec> = {
  channel: (s, v, w) => { s.channel = parseChannel(w, v); },
  'run-dir': (s, v, w, k) => { s.runDir = absolute(w, k, v); },
  'log-file': (s, v, w, k) => { s.logFile = v === '-' ? '-' : absolute(w, k, v); },
  'log-max-bytes': (s, v, w, k) => { s.logMaxBytes = integer(w, k, v, 4096, 1 << 30); },
  heartbeat: (s, v, w, k) => { s.heartbeat = v === '' || v === 'off' ? null : parseHostPort(w, k, v); },
  'heartbeat-key-file': (s, v, w, k) => { s.heartbeatKeyFile = absolute(w, k, v); },
  'heartbeat-interval': (s, v, w, k) => { s.heartbeatIntervalMs = seconds(w, k, v, 0.05, 3600); },
  'vm-id': (s, v, w, k) => { if (!ID_PATTERN.test(v)) fail(w, k, `expected 1-64 characters of A-Z a-z 0-9 . _ : -, got '${v}'`); s.vmId = v; },
  'worker-heap-mb': (s, v, w, k) => { s.workerHeapMb = integer(w, k, v, 8, 4096); },
  'hang-timeout': (s, v, w, k) => { s.hangTimeoutMs = seconds(w, k, v, 0.1, 3600); },
  'stop-grace': (s, v, w, k) => { s.stopGraceMs = seconds(w, k, v, 0, 300); },
  'max-request-bytes': (s, v, w, k) => { s.maxRequestBytes = integer(w, k, v, 4096, 64 << 20); },
  'allow-rpcs': (s, v, w, k) => { s.allowRpcs = rpcList(w, k, v); },
  'block-rpcs': (s, v, w, k) => { s.blockRpcs = rpcList(w, k, v); },
  'stats-interval': (s, v, w, k) => { s.statsIntervalMs = integer(w, k, v, 1, 3600) * 1000; },
  'stats-history': (s, v, w, k) => { s.statsHistory = integer(w, k, v, 10, 10_000); },
  'state-dir': (s, v, w, k) => { s.stateDir = absolute(w, k, v); },
  'freeze-timeout': (s, v, w, k) => { s.freezeTimeoutMs = seconds(w, k, v, 1, 86_400); },
  'os-root': (s, v, w, k) => { s.osRoot = absolute(w, k, v); },
  'clock-heal': (s, v, w, k) => { if (v !== 'on' && v !== 'off') fail(w, k, `expected on or off, got '${v}'`); s.clockHeal = v === 'on'; },
  'clock-heal-max-step': (s, v, w, k) => { s.clockHealMaxStepMs = seconds(w, k, v, 3, 366 * 86_400); },
  'interfaces-order': (s, v, w, k) => { if (!/^(as-is|real-(first|only))$/.test(v)) fail(w, k, `expected real-first, as-is or real-only, got '${v}'`); s.interfacesOrder = v as Settings['interfacesOrder']; },
  updates: (s, v, w, k) => { if (!/^(panel|off)$/.test(v)) fail(w, k, `expected panel or off, got '${v}'`); s.updates = v as Settings['updates']; },
  'update-max-bytes': (s, v, w, k) => { s.updateMaxBytes = integer(w, k, v, 1 << 20, 2 ** 32); },
  'regenerate-identity-on-clone': (s, v, w, k) => { if (!/^(yes|no)$/.test(v)) fail(w, k, `expected yes or no, got '${v}'`); s.regenerateIdentity = v === 'yes'; },
};

/** Paths in the config file must be absolute; on the command line they are taken from the cwd. */
function absolute(where: string, key: string, v: string): string {
  if (where.startsWith('--') && v !== '' && !v.includes('\0')) return path.resolve(v);
  if (!v.startsWith('/') || v.includes('\0')) fail(where, key, `expected an absolute path, got '${v}'`);
  return v;
}

function defaultVmId(): string {
  for (const f of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = fs.readFileSync(f, 'utf8').trim();
      if (ID_PATTERN.test(id)) return id;
    } catch { /* next */ }
  }
  const host = os.hostname().slice(0, 64);
  return ID_PATTERN.test(host) ? host : 'unknown';
}

export function defaultSettings(): Settings {
  const uid = process.getuid?.() ?? 0;
  const root = uid === 0;
  return {
    configFile: null,
    channel: { kind: 'serial', path: '/dev/virtio-ports/org.qemu.guest_agent.0' },
    runDir: root ? '/run/phoenix-ga' : `${os.tmpdir()}/phoenix-ga-${uid}`,
    logFile: root ? '/var/log/phoenix-ga.log' : '-',
    logMaxBytes: 1 << 20,
    heartbeat: null,
    heartbeatKeyFile: '/etc/phoenix-ga/heartbeat.key',
    heartbeatIntervalMs: 10_000,
    vmId: defaultVmId(),
    workerHeapMb: 64,
    hangTimeoutMs: 20_000,
    stopGraceMs: 5_000,
    maxRequestBytes: 1 << 20,
    allowRpcs: null,
    // Remote command execution is off unless the operator turns it on (RHEL ships qemu-ga so too).
    blockRpcs: DEFAULT_BLOCKED,
    testCommands: false,
    statsIntervalMs: 60_000,
    statsHistory: 720,
    stateDir: root ? '/var/lib/phoenix-ga' : `${os.tmpdir()}/phoenix-ga-${uid}/state`,
    freezeTimeoutMs: 600_000,
    osRoot: '/',
    interfacesOrder: 'real-first',
    clockHeal: true,
    clockHealMaxStepMs: 86_400_000,
    updates: 'panel',
    updateMaxBytes: 256 << 20,
    // Hosting images are cloned: a clone must not keep the template's SSH host keys.
    regenerateIdentity: true,
    testCrashAt: null,
  };
}

/** Parses `key = value` lines; `#` starts a comment line. */
export function parseConfigText(text: string, file: string): Raw {
  const raw: Raw = new Map();
  text.split('\n').forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    const where = `${file}:${i + 1}`;
    const eq = t.indexOf('=');
    if (eq < 1) throw new SettingsError(`${where}: expected 'key = value', got '${t.slice(0, 80)}'`);
    const key = t.slice(0, eq).trim();
    if (!(key in KEYS)) throw new SettingsError(`${where}: unknown key '${key}' (known: ${Object.keys(KEYS).join(', ')})`);
    if (raw.has(key)) throw new SettingsError(`${where}: ${key}: set twice (first at ${raw.get(key)!.where})`);
    raw.set(key, { value: t.slice(eq + 1).trim(), where });
  });
  return raw;
}

/** Flag name (without --) to config key ("flag=key" where they differ), for the flags that override config keys. */
export const FLAG_KEYS: Record<string, string> = Object.fromEntries(('channel run-dir log-file heartbeat heartbeat-key=heartbeat-key-file vm-id heartbeat-interval '
  + 'worker-heap-mb hang-timeout stop-grace allow-rpcs block-rpcs state-dir freeze-timeout os-root clock-heal regenerate-identity-on-clone').split(' ').map((f) => {
  const [flag, key = flag] = f.split('=');
  return [flag, key];
}));

export function flagNames(): string[] {
  return Object.keys(FLAG_KEYS);
}

/**
 * Why a file that steers this root process is not safe to use, or null: it must belong to root
 * (or to the user running us) and grant group and others none of the BITS (0o022: write, 0o077: all).
 */
export function fileProblem(st: fs.Stats, file: string, bits: number): string | null {
  const bad = st.mode & bits;
  if (st.uid && st.uid !== process.getuid!()) return `${file} is owned by uid ${st.uid}, not root`;
  return bad ? `${file} is ${bad & 0o044 ? 'readable' : 'writable'} by group or others (mode ${(st.mode & 0o777).toString(8)})` : null;
}

/** The config names paths that root writes to: a file another user could have written is refused. */
function readConfigFile(file: string): string {
  const fd = fs.openSync(file, 'r');
  try {
    const problem = fileProblem(fs.fstatSync(fd), file, 0o022);
    if (problem) throw new SettingsError(`config file ${problem}`);
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** Builds the settings from the flags already split into name → value. */
export function loadSettings(flags: Map<string, string>, readFile = readConfigFile): Settings {
  const s = defaultSettings();
  s.flags = [...flags];
  const explicit = flags.get('config');
  const file = explicit ?? DEFAULT_CONFIG_FILE;
  let text: string | null = null;
  try {
    text = readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (e instanceof SettingsError) throw e;
    if (explicit !== undefined || code !== 'ENOENT') throw new SettingsError(`config file ${file}: ${(e as Error).message}`);
  }
  if (text !== null) {
    s.configFile = file;
    for (const [key, { value, where }] of parseConfigText(text, file)) KEYS[key](s, value, where, key);
  }
  for (const [flag, value] of flags) {
    const key = FLAG_KEYS[flag];
    if (key) KEYS[key](s, value, `--${flag}`, key);
  }
  if (flags.has('test-commands')) s.testCommands = true;
  const crash = flags.get('test-crash-at');
  if (crash !== undefined) {
    if (!/^(received|started|effect|done|read|sent):[a-z-]+(:\d+)?$/.test(crash)) throw new SettingsError(`--test-crash-at: expected STEP:COMMAND[:TIMES] with STEP received|started|effect|done|read|sent, got '${crash}'`);
    if (!s.testCommands) throw new SettingsError('--test-crash-at needs --test-commands (only the test worker has crash points)');
    s.testCrashAt = crash;
  }
  if (s.allowRpcs && s.blockRpcs !== DEFAULT_BLOCKED && s.blockRpcs.length) throw new SettingsError(`${s.configFile ?? 'flags'}: allow-rpcs and block-rpcs: set only one of the two`);
  if (s.allowRpcs) s.blockRpcs = [];
  return s;
}

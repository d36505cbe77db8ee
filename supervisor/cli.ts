// Command-line parsing: `phoenix-ga [run|status] [--flag value | --flag=value]...`.

import { flagNames } from './settings';

export const EXIT = {
  ok: 0,
  usage: 2,
  /** Another supervisor holds the lock for this run directory (s6's "permanent" code). */
  /** Stopped for the init to start the version `current` names (an update applied or rolled back). */
  handover: 75,
  alreadyRunning: 100,
  /** A temporary condition (run directory, channel); the init system may retry. */
  temporary: 111,
} as const;

export interface ParsedArgs {
  command: 'run' | 'status' | 'install' | 'uninstall' | 'help' | 'version';
  flags: Map<string, string>;
}

const VALUE_FLAGS = new Set(['config', 'test-crash-at', ...flagNames()]);
const BOOL_FLAGS = new Set(['test-commands', 'json', 'help', 'version']);
const COMMANDS = new Set(['run', 'status']);

export class UsageError extends Error {}

export function parseArgs(argv: string[]): ParsedArgs {
  const flags = new Map<string, string>();
  let command: ParsedArgs['command'] | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h') { flags.set('help', ''); continue; }
    if (!a.startsWith('--')) {
      if (command === null && COMMANDS.has(a)) { command = a as ParsedArgs['command']; continue; }
      throw new UsageError(`unexpected argument '${a}' (commands: run, status, install, uninstall; see --help)`);
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (BOOL_FLAGS.has(name)) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags.set(name, '');
    } else if (VALUE_FLAGS.has(name)) {
      const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
    } else {
      throw new UsageError(`unknown option --${name} (see --help)`);
    }
  }
  if (flags.has('help')) return { command: 'help', flags };
  if (flags.has('version')) return { command: 'version', flags };
  return { command: command ?? 'run', flags };
}

// Entry of dist/ctl.js: the commands a person or the automation runs (status, install, --help),
// kept out of the resident supervisor so the long-running process parses and holds less.

import { readJsonFile } from './atomic-file';
import type { ParsedArgs } from './cli';
import { HELP } from './help';
import type { Settings } from './settings';
import { PersistedState, stateFile } from './state-store';
import { runInstaller } from './installer-cli';
import { formatStatus } from './status';

export { startUpdateWatch } from './update/watch';

/** ARGS: parsed by the supervisor, or `install`/`uninstall` with their own options. */
export function runCtl(args: ParsedArgs | string[], settings: Settings | null): number {
  if (Array.isArray(args)) return runInstaller(args);
  if (args.command === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (args.command === 'status' && settings) {
    const state = readJsonFile<PersistedState>(stateFile(settings.runDir));
    if (args.flags.has('json')) {
      process.stdout.write(JSON.stringify(state) + '\n');
      return state ? 0 : 3;
    }
    const { text, running } = formatStatus(state, settings.runDir);
    process.stdout.write(text);
    return running ? 0 : 3;
  }
  return 2;
}

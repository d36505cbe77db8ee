// Loads dist/agent-rare.js (agent/rare/entry.ts) at the first call of a rare command, so the
// worker's start compiles 85 KB less. The file is taken beside the running agent.js: Node resolved
// __dirname through the `current` link at start, so an update switching `current` afterwards
// never mixes two versions. A missing, corrupt or foreign file fails that command only.

import path = require('path');
import { QgaError } from '../wire/reply';
import { sharedModules } from './shared';

declare const __VERSION__: string;

export type Rare = Omit<typeof import('./entry'), 'version'>;
type RareFactory = (shared: typeof sharedModules) => typeof import('./entry');

export const RARE_FILE = 'agent-rare.js';

// A cache like require's own: the bundle is evaluated once, so its closures and timers are one.
let loaded: Rare | null = null;

/** The rare handlers; throws a GenericError naming the file and the reason when it cannot load. */
export function rare(): Rare {
  if (loaded) return loaded;
  const file = path.join(__dirname, RARE_FILE);
  let mod: ReturnType<RareFactory>;
  try {
    mod = (require(file) as RareFactory)(sharedModules);
  } catch (e) {
    throw new QgaError('GenericError', `this command's code could not be loaded from ${file}: ${(e as Error).message ?? String(e)}; the other commands work (reinstall the agent)`);
  }
  const mine = typeof __VERSION__ === 'string' ? __VERSION__ : mod.version;
  if (mod.version !== mine) throw new QgaError('GenericError', `this command's code in ${file} is version ${mod.version}, the agent ${mine}; the other commands work (reinstall the agent)`);
  loaded = mod;
  return mod;
}

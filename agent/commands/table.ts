// The command table: every command this agent has, in one list. Reading it tells what the agent
// can do; guest-info and docs/commands.md are generated from it.

import { actionCommands } from './actions';
import { beyondCommands } from './beyond';
import type { Command } from './command';
import { configCommands } from './config';
import { factCommands } from './facts';
import { fileCommands } from './files';
import { hotplugCommands } from './hotplug';
import { networkCommands } from './network';
import { protocolCommands } from './protocol';
import { releaseCommands } from './release';
import { statsCommands } from './stats';
// The shipped worker is built with an empty test-hooks-none.ts in its place (build/build.mjs).
import { testCommands } from './test-hooks';

export function commandTable(opts: { testCommands: boolean }): readonly Command<never>[] {
  return [
    ...protocolCommands,
    ...factCommands,
    ...statsCommands,
    ...configCommands,
    ...releaseCommands,
    ...hotplugCommands,
    ...actionCommands,
    ...networkCommands,
    ...fileCommands,
    ...beyondCommands,
    ...(opts.testCommands ? testCommands : []),
  ];
}

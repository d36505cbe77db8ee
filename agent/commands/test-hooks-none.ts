// What the shipped worker (dist/agent.js) gets for ./test-hooks: no fault-injection commands.
// build/build.mjs substitutes this module and fails the build if test-hooks.ts gets in anyway.

import type { Command } from './command';

export const testCommands: readonly Command<never>[] = [];

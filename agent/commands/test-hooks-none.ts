// What the shipped worker (dist/agent.js) gets for ./test-hooks: no fault-injection commands and no crash points.
// build/build.mjs substitutes this module and fails the build if test-hooks.ts gets in anyway.

import type { Command } from './command';

export const testCommands: readonly Command<never>[] = [];

/** The shipped worker never kills itself at a journal step. */
export function crashPoint(_spec: string | null, _stateDir: string): undefined {
  return undefined;
}

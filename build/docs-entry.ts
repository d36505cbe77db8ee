// Shared by build/gen-docs.mjs and test/docs.test.ts: the text docs/commands.md must hold.
import { renderReference } from '../agent/commands/reference';
import { commandTable } from '../agent/commands/table';
import { EXAMPLES } from './command-examples';

export const REFERENCE_NOTE = 'Generated from `agent/commands/table.ts` by `npm run docs`; `test/docs.test.ts` fails when it is stale. '
  + 'Errors use qemu-ga classes and texts (see [protocol.md](protocol.md)). Commands shown here are the ones the worker has; '
  + 'the config keys `allow-rpcs` / `block-rpcs` disable some (they then answer `CommandNotFound`, "Command X has been disabled"). '
  + 'The `phoenix-test-*` commands exist only in the test worker, which the supervisor runs with `--test-commands` (a build tree only). '
  + 'The examples of the `phoenix-*` commands are real replies (long lists cut to two elements), checked against the agent by `test/docs-examples.test.ts`.';

export function commandsMarkdown(): string {
  return renderReference(commandTable({ testCommands: true }), REFERENCE_NOTE, EXAMPLES);
}

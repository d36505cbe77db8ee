// Shared by build/gen-docs.mjs and test/docs.test.ts: the text docs/commands.md must hold.
import { renderReference } from '../agent/commands/reference';
import { commandTable } from '../agent/commands/table';

export const REFERENCE_NOTE = 'Generated from `agent/commands/table.ts` by `npm run docs`; `test/docs.test.ts` fails when it is stale. '
  + 'Errors use qemu-ga classes and texts (see [protocol.md](protocol.md)). Commands shown here are the ones the worker has; '
  + 'the config keys `allow-rpcs` / `block-rpcs` disable some (they then answer `CommandNotFound`, "Command X has been disabled"). '
  + 'The `phoenix-test-*` commands exist only when the supervisor runs with `--test-commands` (tests only).';

export function commandsMarkdown(): string {
  return renderReference(commandTable({ testCommands: true }), REFERENCE_NOTE);
}

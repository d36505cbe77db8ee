// Renders docs/commands.md from the command table, so the reference cannot drift from the code
// (test/docs.test.ts fails when the file is stale; `npm run docs` rewrites it).

import type { Command } from './command';
import type { ObjectSchema } from './schema';

function argRows(c: Command<never>): string[] {
  const fields = (c.args as unknown as ObjectSchema<Record<string, never>>).fields ?? {};
  const names = Object.keys(fields);
  if (!names.length) return ['Arguments: none.'];
  const rows = ['| argument | type | required |', '|---|---|---|'];
  for (const n of names) {
    const f = fields[n] as unknown as { optional?: { doc: string }; doc?: string };
    rows.push(`| \`${n}\` | ${f.optional ? f.optional.doc : f.doc} | ${f.optional ? 'no' : 'yes'} |`);
  }
  return rows;
}

export function renderReference(commands: readonly Command<never>[], note: string): string {
  const out = ['# Command reference', '', note, '', '| command | replies | description |', '|---|---|---|'];
  for (const c of commands) out.push(`| [\`${c.name}\`](#${c.name}) | ${c.successResponse === false ? 'no (on success)' : c.delimited ? '0xFF + line' : 'line'} | ${c.description} |`);
  for (const c of commands) {
    out.push('', `## ${c.name}`, '', c.description, '', ...argRows(c));
  }
  return out.join('\n') + '\n';
}

// Renders docs/commands.md from the command table, so the reference cannot drift from the code
// (test/docs.test.ts fails when the file is stale; `npm run docs` rewrites it).

import type { Command } from './command';
import type { ObjectSchema } from './schema';

/** A table cell: a `|` in the text (a type like `a | b`) would end the cell. */
const cell = (text: string) => text.replace(/\|/g, '\\|');

function argRows(c: Command<never>): string[] {
  const fields = (c.args as unknown as ObjectSchema<Record<string, never>>).fields ?? {};
  const names = Object.keys(fields);
  if (!names.length) return ['Arguments: none.'];
  const rows = ['| argument | type | required |', '|---|---|---|'];
  for (const n of names) {
    const f = fields[n] as unknown as { optional?: { doc: string }; doc?: string };
    rows.push(`| \`${n}\` | ${cell(f.optional ? f.optional.doc : f.doc!)} | ${f.optional ? 'no' : 'yes'} |`);
  }
  return rows;
}

/** An example request and its reply (null: none), shown under a command. */
export interface ReferenceExample { args?: Record<string, unknown>; reply: unknown }

function exampleLines(name: string, ex: ReferenceExample | undefined): string[] {
  if (!ex) return [];
  const req = JSON.stringify({ execute: name, ...(ex.args ? { arguments: ex.args } : {}) });
  return ['', 'Example:', '', '```', `-> ${req}`, ex.reply === null ? '(no reply)' : `<- ${JSON.stringify(ex.reply)}`, '```'];
}

export function renderReference(commands: readonly Command<never>[], note: string, examples: Record<string, ReferenceExample> = {}): string {
  const out = ['# Command reference', '', note, '', '| command | replies | description |', '|---|---|---|'];
  for (const c of commands) out.push(`| [\`${c.name}\`](#${c.name}) | ${c.successResponse === false ? 'no (on success)' : c.delimited ? '0xFF + line' : 'line'} | ${cell(c.description)} |`);
  for (const c of commands) {
    out.push('', `## ${c.name}`, '', c.description, '', ...argRows(c), ...exampleLines(c.name, examples[c.name]));
  }
  return out.join('\n') + '\n';
}

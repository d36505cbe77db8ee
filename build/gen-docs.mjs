// Writes docs/commands.md from the command table (agent/commands/table.ts).
import * as esbuild from 'esbuild';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, '.test-out', 'gen-docs.cjs');
await esbuild.build({ absWorkingDir: root, entryPoints: ['build/docs-entry.ts'], outfile: out, bundle: true, platform: 'node', format: 'cjs', logLevel: 'warning' });
const { commandsMarkdown } = createRequire(import.meta.url)(out);
writeFileSync(join(root, 'docs/commands.md'), commandsMarkdown());
console.log('wrote docs/commands.md');

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { commandsMarkdown } from '../build/docs-entry';
import { ROOT } from './helpers/agent';

test('docs/commands.md matches the command table (run `npm run docs` after changing a command)', () => {
  assert.is(fs.readFileSync(path.join(ROOT, 'docs/commands.md'), 'utf8'), commandsMarkdown());
});

test('every table row of commands.md has as many cells as its header (a `|` in a type is escaped)', () => {
  const cells = (row: string) => row.replace(/\\\|/g, '').split('|').length;
  let header = 0;
  for (const line of fs.readFileSync(path.join(ROOT, 'docs/commands.md'), 'utf8').split('\n')) {
    if (!line.startsWith('|')) { header = 0; continue; }
    if (header === 0) header = cells(line); else assert.is(cells(line), header, line);
  }
});

test('--help names every command-line option the supervisor accepts', () => {
  const help = require('child_process').execFileSync(process.execPath, [path.join(ROOT, 'dist/supervisor.js'), '--help'], { encoding: 'utf8' });
  const { flagNames } = require('../supervisor/settings');
  for (const f of ['config', ...flagNames(), 'test-commands', 'version', 'help']) assert.ok(help.includes(`--${f}`), `--${f} missing from --help`);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { commandsMarkdown } from '../build/docs-entry';
import { ROOT } from './helpers/agent';

test('docs/commands.md matches the command table (run `npm run docs` after changing a command)', () => {
  assert.is(fs.readFileSync(path.join(ROOT, 'docs/commands.md'), 'utf8'), commandsMarkdown());
});

test('--help names every command-line option the supervisor accepts', () => {
  const help = require('child_process').execFileSync(process.execPath, [path.join(ROOT, 'dist/supervisor.js'), '--help'], { encoding: 'utf8' });
  const { flagNames } = require('../supervisor/settings');
  for (const f of ['config', ...flagNames(), 'test-commands', 'version', 'help']) assert.ok(help.includes(`--${f}`), `--${f} missing from --help`);
});

test.run();

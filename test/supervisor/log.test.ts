// The service log: a worker's stderr line is written once, at the level the worker gave it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createLogger, workerLine } from '../../supervisor/log';

test('a worker line keeps its own level and loses its prefix; an unprefixed line is a warning', () => {
  assert.equal(workerLine('info: code cache written'), ['info', 'code cache written']);
  assert.equal(workerLine('error: journal is read-only'), ['error', 'journal is read-only']);
  assert.equal(workerLine('warn: slow'), ['warn', 'slow']);
  assert.equal(workerLine('    at Object.<anonymous> (agent.js:1:1)'), ['warn', '    at Object.<anonymous> (agent.js:1:1)']);
  assert.equal(workerLine('information: not a level'), ['warn', 'information: not a level']);
});

test('the log file shows one level per worker line', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pga-log-'));
  try {
    const file = path.join(dir, 'agent.log');
    const log = createLogger({ file, maxBytes: 1 << 20 });
    const [level, text] = workerLine('error: cannot read /proc/stat');
    log.log(level, 'worker[7]', text);
    const line = fs.readFileSync(file, 'utf8').trim();
    assert.match(line, / worker\[7\] error: cannot read \/proc\/stat$/);
    assert.not.match(line, /info: |error: error:/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

// The supervisor's command line and start-up against the built bundle.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { cleanEnv, startAgent, SUPERVISOR, tempDir } from '../helpers/agent';
import { createLogger } from '../../supervisor/log';

const run = (args: string[], opts: { uid?: number } = {}) =>
  spawnSync(process.execPath, [SUPERVISOR, ...args], { encoding: 'utf8', env: cleanEnv(), timeout: 10_000, ...opts });

test('--version and --help', () => {
  assert.match(run(['--version']).stdout, /^phoenix-ga \d+\.\d+\.\d+/);
  const h = run(['--help']);
  assert.is(h.status, 0);
  assert.match(h.stdout, /Usage:/);
});

test('a bad option or config value stops the start with exit 2 and names the key', () => {
  const dir = tempDir();
  const r1 = run(['--bogus']);
  assert.is(r1.status, 2);
  assert.match(r1.stderr, /unknown option --bogus/);
  fs.writeFileSync(path.join(dir, 'pga.conf'), 'channel = unix:/tmp/x.sock\nheartbeat-interval = soon\n');
  const r2 = run(['--config', path.join(dir, 'pga.conf')]);
  assert.is(r2.status, 2);
  assert.match(r2.stderr, /pga.conf:2: heartbeat-interval: expected a number from 0.05 to 3600, got 'soon'/);
  const r3 = run(['--config', path.join(dir, 'missing.conf')]);
  assert.is(r3.status, 2);
  assert.match(r3.stderr, /config file .*missing.conf: ENOENT/);
});

test('status: the running view, then "not running" with exit 3 after a stop', async () => {
  const agent = startAgent({ interval: 0.5 });
  const pid = await agent.waitReady();
  const s = run(['status', '--run-dir', agent.runDir]);
  assert.is(s.status, 0);
  assert.match(s.stdout, new RegExp(`supervisor running, pid ${agent.proc.pid}`));
  assert.match(s.stdout, new RegExp(`worker: ready, pid ${pid}, generation 1`));
  assert.match(s.stdout, /channel: unix:.*agent.sock \(listening\)/);
  const j = JSON.parse(run(['status', '--run-dir', agent.runDir, '--json']).stdout);
  assert.is(j.worker.pid, pid);
  await agent.stop();
  const after = run(['status', '--run-dir', agent.runDir]);
  assert.is(after.status, 3);
  assert.match(after.stdout, /supervisor NOT running/);
});

test('as a non-root user it runs for local use on a unix socket', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root to switch to an unprivileged user (CI is root)');
  const dir = tempDir();
  fs.chmodSync(dir, 0o777);
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, SUPERVISOR, '--version'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const agent = startAgent({ dir, interval: 0.5, args: [] });
  await agent.stop();
  // The same start as nobody: state dir, socket, worker.
  const p = require('child_process').spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, SUPERVISOR,
    '--channel', `unix:${dir}/nobody.sock`, '--run-dir', `${dir}/nobody-run`, '--log-file', '-', '--heartbeat-interval', '0.2'], { stdio: 'ignore', env: cleanEnv() });
  try {
    const { waitFor } = await import('../helpers/agent');
    await waitFor('worker ready as nobody', () => {
      try { return JSON.parse(fs.readFileSync(`${dir}/nobody-run/state.json`, 'utf8')).worker.state === 'ready'; } catch { return false; }
    }, 5000);
    const st = fs.statSync(`${dir}/nobody.sock`);
    assert.is(st.uid, 65534);
    assert.is(st.mode & 0o777, 0o600);
  } finally {
    p.kill('SIGTERM');
  }
});

test('the log is capped and rotated to FILE.1', () => {
  const dir = tempDir();
  const file = path.join(dir, 'pga.log');
  const log = createLogger({ file, maxBytes: 4096 });
  for (let i = 0; i < 200; i++) log.log('info', 'test', `line ${i} ${'x'.repeat(40)}`);
  assert.ok(fs.statSync(file).size <= 4096);
  assert.ok(fs.statSync(`${file}.1`).size <= 4096);
  assert.match(fs.readFileSync(file, 'utf8'), /line 199/);
  assert.is(fs.statSync(file).mode & 0o777, 0o600);
  log.log('info', 'test', 'two\nlines');
  assert.match(fs.readFileSync(file, 'utf8'), /two lines\n$/);
});

test.run();

// Upgrades on system trees: a version directory a process still runs from is never deleted, and
// what the installer asks of each init to run the new version. The live upgrade itself, with the
// service running under systemd and sysvinit, is test/e2e/upgrade.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { restartCommands } from '../../supervisor/install/live';
import { ROOT, waitFor } from '../helpers/agent';
import { buildVersion, scratchDir } from '../helpers/versions';

function systemdTree(): string {
  const r = scratchDir('tree-upgrade-');
  fs.mkdirSync(path.join(r, 'usr/lib/systemd'), { recursive: true });
  fs.mkdirSync(path.join(r, 'usr/sbin'), { recursive: true });
  fs.mkdirSync(path.join(r, 'etc/systemd/system'), { recursive: true });
  fs.writeFileSync(path.join(r, 'usr/lib/systemd/systemd'), 'ELF systemd');
  fs.symlinkSync('/usr/lib/systemd/systemd', path.join(r, 'usr/sbin/init'));
  fs.symlinkSync('usr/sbin', path.join(r, 'sbin'));
  return r;
}

test('a version directory a process still runs from is kept, and the next install removes it once nothing does', async () => {
  const a = buildVersion('0.9.0-a', process.execPath);
  const b = buildVersion('0.9.0-b', process.execPath);
  const r = systemdTree();
  const lib = path.join(r, 'usr/lib/phoenix-ga');
  assert.is(spawnSync(path.join(a, 'phoenix-ga'), ['install', '--root', r], { encoding: 'utf8' }).status, 0);
  // A program running from the old version's runtime, as the old supervisor would be.
  const user = spawn(path.join(lib, '0.9.0-a/node'), ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  const exited = new Promise((res) => user.once('exit', res));
  await waitFor('it runs', () => { try { return fs.readlinkSync(`/proc/${user.pid}/exe`).includes('0.9.0-a'); } catch { return false; } }, 5000);
  try {
    const up = spawnSync(path.join(b, 'phoenix-ga'), ['install', '--root', r], { encoding: 'utf8' });
    assert.is(up.status, 0, up.stderr);
    assert.is(fs.readlinkSync(path.join(lib, 'current')), '0.9.0-b');
    assert.match(up.stdout, new RegExp(`kept /usr/lib/phoenix-ga/0.9.0-a: in use by pid ${user.pid} \\(node\\); the next install removes it`));
    assert.ok(fs.existsSync(path.join(lib, '0.9.0-a/node')), 'the running version is still on disk');
  } finally {
    user.kill('SIGKILL');
  }
  await exited;
  const again = spawnSync(path.join(b, 'phoenix-ga'), ['install', '--root', r], { encoding: 'utf8' });
  assert.is(again.status, 0, again.stderr);
  assert.match(again.stdout, /removed old version \/usr\/lib\/phoenix-ga\/0.9.0-a/);
  assert.equal(fs.readdirSync(lib).sort(), ['0.9.0-b', 'current']);
});

test('what each init is asked to run the installed version (upstart cannot boot here: its commands are checked, its job file is linted in installer.test.ts)', () => {
  assert.equal(restartCommands('systemd'), [['systemctl', 'daemon-reload'], ['systemctl', 'restart', 'phoenix-ga']]);
  // `initctl restart` keeps the job definition it started with: stop, then start reads the new one.
  assert.equal(restartCommands('upstart'), [['initctl', 'stop', 'phoenix-ga'], ['initctl', 'start', 'phoenix-ga']]);
  // sysvinit re-reads inittab; the old supervisor then gets SIGTERM and the respawn entry starts the new one.
  assert.equal(restartCommands('sysvinit'), [['telinit', 'q']]);
});

test('install --help is the installer\'s own help; --help names every exit code', () => {
  const cli = path.join(ROOT, 'dist/phoenix-ga');
  for (const args of [['install', '--help'], ['uninstall', '-h'], ['install', '--root', '/x', '--help']]) {
    const h = spawnSync(cli, args, { encoding: 'utf8' });
    assert.is(h.status, 0);
    assert.match(h.stdout, /^phoenix-ga install — /, args.join(' '));
    assert.match(h.stdout, /4 refused, nothing written/);
  }
  const bad = spawnSync(cli, ['install', '--rot', '/x'], { encoding: 'utf8' });
  assert.equal([bad.status, bad.stderr], [2, "phoenix-ga install: unexpected argument '--rot' (see phoenix-ga install --help)\n"]);
  const main = spawnSync(cli, ['--help'], { encoding: 'utf8' }).stdout;
  for (const code of [0, 2, 3, 70, 100, 111]) assert.match(main, new RegExp(`[ ;:]${code} `), `exit code ${code}`);
  // The main help's exit codes are the ones configuration.md lists.
  const table = fs.readFileSync(path.join(ROOT, 'docs/configuration.md'), 'utf8').split('## Exit codes of the supervisor')[1];
  for (const m of table.matchAll(/^\| (\d+) \|/gm)) assert.match(main, new RegExp(`[ ;:]${m[1]} `), `documented code ${m[1]}`);
});

test.run();

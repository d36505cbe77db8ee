// The release keys a package brings (init/release-keys/KEYID.pub) are installed where
// phoenix-release-apply looks for them, and go again on uninstall.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT } from '../helpers/agent';
import { buildVersion, scratchDir } from '../helpers/versions';

test('install puts the package\'s release keys into /etc/phoenix-ga/release-keys; uninstall removes them', () => {
  const pkg = buildVersion('0.9.7', process.execPath);
  const keys = scratchDir('pga-keys-');
  const made = spawnSync(process.execPath, [path.join(ROOT, 'build/release.mjs'), 'keygen', '--out', path.join(keys, 'k')], { encoding: 'utf8' });
  const id = /^key (\w{16}):/.exec(made.stdout)!;
  fs.mkdirSync(path.join(pkg, 'init/release-keys'));
  fs.copyFileSync(path.join(keys, 'k.pub'), path.join(pkg, 'init/release-keys', `${id[1]}.pub`));
  fs.writeFileSync(path.join(pkg, 'init/release-keys', 'README'), 'not a key\n');
  const r = scratchDir('tree-keys-');
  fs.mkdirSync(path.join(r, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(r, 'etc/inittab'), 'id:2:initdefault:\n');
  const inst = spawnSync(path.join(pkg, 'phoenix-ga'), ['install', '--root', r, '--init', 'sysvinit'], { encoding: 'utf8' });
  assert.is(inst.status, 0, inst.stderr + inst.stdout);
  const dir = path.join(r, 'etc/phoenix-ga/release-keys');
  assert.equal(fs.readdirSync(dir), [`${id[1]}.pub`]);
  assert.is(fs.readFileSync(path.join(dir, `${id[1]}.pub`), 'utf8'), fs.readFileSync(path.join(keys, 'k.pub'), 'utf8'));
  assert.is(fs.statSync(path.join(dir, `${id[1]}.pub`)).mode & 0o777, 0o644);
  const un = spawnSync(path.join(pkg, 'phoenix-ga'), ['uninstall', '--root', r], { encoding: 'utf8' });
  assert.is(un.status, 0, un.stderr + un.stdout);
  assert.match(un.stdout, /removed \/etc\/phoenix-ga\/release-keys/);
  assert.not.ok(fs.existsSync(path.join(r, 'etc/phoenix-ga')), 'nothing of ours is left in /etc');
});

test.run();

// The packages on real systems: the tarball unpacked and installed from outside into a sysvinit
// tree (it brings Node 16, and the tree has no Node at all), and the .deb installed with dpkg
// inside a booted systemd container (postinst runs the installer on the live system).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, tempDir, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { boot, prepareRoot } from './lib/nspawn';
import { ensureTree } from './lib/rootfs';

const PKG = path.join(ROOT, 'dist/pkg');
let built = false;
function packages(): { tarball: string; deb: string } {
  if (!built) {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'build/package.mjs')], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    built = true;
  }
  const files = fs.readdirSync(PKG);
  return { tarball: path.join(PKG, files.find((f) => f.endsWith('.tar.gz'))!), deb: path.join(PKG, files.find((f) => f.endsWith('.deb'))!) };
}

const S = suite('packages');

S('tarball: unpacked anywhere, installs into a sysvinit tree with its own Node 16; the agent runs there', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const { tarball } = packages();
  const work = tempDir('unpack-');
  execFileSync('tar', ['xzf', tarball, '-C', work]);
  const dir = path.join(work, fs.readdirSync(work)[0]);
  assert.is(execFileSync(path.join(dir, 'node'), ['--version'], { encoding: 'utf8' }).trim(), 'v16.20.2');
  assert.match(execFileSync(path.join(dir, 'phoenix-ga'), ['--version'], { encoding: 'utf8' }), /^phoenix-ga \d+\.\d+\.\d+/);
  const root = await prepareRoot(await ensureTree('sysvinit'), 'pkg-tarball');
  const host = tempDir('pga-tar-');
  try {
    assert.not.ok(fs.existsSync(path.join(root.merged, 'usr/bin/node')), 'the tree has no Node of its own');
    const r = spawnSync(path.join(dir, 'phoenix-ga'), ['install', '--root', root.merged], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stdout + r.stderr);
    const cfg = path.join(root.merged, 'etc/phoenix-ga/phoenix-ga.conf');
    fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace(/^channel = .*$/m, 'channel = unix:/srv/pga/agent.sock'));
    const c = await boot(root, { binds: [{ host, guest: '/srv/pga' }] });
    await waitFor('running', async () => (await c.exec('ps -C phoenix-ga >/dev/null && echo OK || echo Error')).stdout === 'OK\n', 15_000, 200);
    assert.is((await c.exec('/usr/lib/phoenix-ga/current/node --version')).stdout, 'v16.20.2\n');
    const q = await waitFor('socket', async () => { try { return await QgaClient.connect(path.join(host, 'agent.sock')); } catch { return null; } }, 15_000, 200);
    assert.is((await q.request('guest-get-osinfo')).return.id, 'debian');
    const stats = (await q.request('phoenix-get-stats')).return;
    assert.is(stats.boot.length, 36);
    q.close();
    await c.stop();
  } finally {
    await root.cleanup();
  }
});

S('.deb: dpkg -i inside a booted systemd container starts the service; dpkg -r stops and removes it', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const { deb } = packages();
  const root = await prepareRoot(await ensureTree('systemd'), 'pkg-deb');
  const host = tempDir('pga-deb-');
  fs.copyFileSync(deb, path.join(host, 'phoenix-ga.deb'));
  try {
    const c = await boot(root, { binds: [{ host, guest: '/srv/pga' }] });
    const i = await c.exec('dpkg -i /srv/pga/phoenix-ga.deb', { timeoutMs: 120_000 });
    assert.is(i.code, 0, i.stdout + i.stderr);
    await waitFor('service active', async () => (await c.exec('systemctl is-active phoenix-ga')).stdout === 'active\n', 20_000, 300);
    assert.is((await c.exec('ps -C phoenix-ga >/dev/null && echo OK || echo Error')).stdout, 'OK\n');
    assert.is((await c.exec('/usr/lib/phoenix-ga/current/node --version')).stdout, 'v20.20.2\n');
    assert.is((await c.exec('systemctl is-enabled phoenix-ga')).stdout, 'enabled\n');
    const r = await c.exec('dpkg -r phoenix-ga', { timeoutMs: 60_000 });
    assert.is(r.code, 0, r.stdout + r.stderr);
    await waitFor('stopped', async () => (await c.exec('ps -C phoenix-ga >/dev/null && echo OK || echo Error')).stdout === 'Error\n', 15_000, 300);
    assert.is((await c.exec('test -e /usr/sbin/phoenix-ga || test -e /etc/systemd/system/phoenix-ga.service; echo $?')).stdout, '1\n');
    await c.stop();
  } finally {
    await root.cleanup();
  }
});

S.run();

// The packages on real systems: the tarball unpacked and installed from outside into a sysvinit
// tree (it brings Node 16, and the tree has no Node at all), and the .deb with dpkg inside booted
// systemd and sysvinit containers: install, upgrade over the running service, remove, purge.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, tempDir, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { scratchDir } from '../helpers/versions';
import { boot, Container, prepareRoot } from './lib/nspawn';
import { ensureTree } from './lib/rootfs';

const PKG = path.join(ROOT, 'dist/pkg');
/** The documents --help names. */
const DOCS = ['configuration.md', 'operations.md', 'install.md', 'heartbeat.md', 'commands.md'];
const VERSION = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
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

S('tarball: unpacked anywhere, installs into a sysvinit tree with its own Node (20: the tree has glibc 2.36); the agent runs there', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const { tarball } = packages();
  const work = tempDir('unpack-');
  execFileSync('tar', ['xzf', tarball, '-C', work]);
  const dir = path.join(work, fs.readdirSync(work)[0]);
  assert.is(execFileSync(path.join(dir, 'node'), ['--version'], { encoding: 'utf8' }).trim(), 'v20.20.2');
  assert.is(execFileSync(path.join(dir, 'node-legacy'), ['--version'], { encoding: 'utf8' }).trim(), 'v16.20.2', 'Node 16 for glibc 2.17');
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'runtimes.json'), 'utf8')).map((o: { file: string }) => o.file), ['node', 'node-legacy']);
  assert.match(execFileSync(path.join(dir, 'phoenix-ga'), ['--version'], { encoding: 'utf8' }), /^phoenix-ga \d+\.\d+\.\d+/);
  assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith('.js')).sort(), ['agent-rare.js', 'agent.js', 'ctl.js', 'supervisor.js'], 'the guest programs only: no panel program, no test worker');
  for (const doc of DOCS) assert.ok(fs.existsSync(path.join(dir, 'docs', doc)), `docs/${doc}, which --help promises`);
  const root = await prepareRoot(await ensureTree('sysvinit'), 'pkg-tarball');
  const host = tempDir('pga-tar-');
  try {
    assert.not.ok(fs.existsSync(path.join(root.merged, 'usr/bin/node')), 'the tree has no Node of its own');
    const r = spawnSync(path.join(dir, 'phoenix-ga'), ['install', '--root', root.merged], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, 'runtime: Node 20.20.2');
    const cfg = path.join(root.merged, 'etc/phoenix-ga/phoenix-ga.conf');
    fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace(/^channel = .*$/m, 'channel = unix:/srv/pga/agent.sock'));
    const c = await boot(root, { binds: [{ host, guest: '/srv/pga' }] });
    await waitFor('running', async () => (await c.exec('ps -C phoenix-ga >/dev/null && echo OK || echo Error')).stdout === 'OK\n', 15_000, 200);
    assert.is((await c.exec('/usr/lib/phoenix-ga/current/node --version')).stdout, 'v20.20.2\n');
    const q = await waitFor('socket', async () => { try { return await QgaClient.connect(path.join(host, 'agent.sock')); } catch { return null; } }, 15_000, 200);
    assert.is((await q.request('guest-get-osinfo')).return.id, 'debian');
    // A command whose code is in agent-rare.js: shipped beside agent.js and loaded from there.
    assert.ok(Array.isArray((await q.request('phoenix-get-host-keys')).return?.keys));
    const stats = (await q.request('phoenix-get-stats')).return;
    assert.is(stats.boot.length, 36);
    q.close();
    await c.stop();
  } finally {
    await root.cleanup();
  }
});

/** Every path on the container's root file system, minus what dpkg, apt, journald and booting change. */
async function fileList(c: Container): Promise<string[]> {
  const prune = ['/proc', '/sys', '/dev', '/run', '/tmp', '/var/tmp', '/srv', '/var/lib/dpkg', '/var/cache', '/var/log/journal', '/var/lib/systemd'];
  const r = await c.exec(`find / -xdev \\( ${prune.map((p) => `-path ${p}`).join(' -o ')} \\) -prune -o -print | sort`, { timeoutMs: 60_000 });
  const files = r.stdout.split('\n').filter((l) => l && !/^\/var\/log\/(dpkg\.log|apt|alternatives\.log)/.test(l));
  assert.ok(files.length > 1000 && files.includes('/etc/passwd'), `the file list of the container (${files.length} paths)`);
  return files;
}

/** Supervisor and worker: pids, executables, and files they run from that are deleted. */
async function running(c: Container): Promise<{ pids: number[]; exes: string[]; deleted: string[] }> {
  const pids = (await c.exec('pgrep -x phoenix-ga; pgrep -x phoenix-ga-work; true')).stdout.trim().split('\n').filter(Boolean).map(Number);
  const exes = (await c.exec(`for p in ${pids.join(' ')}; do readlink /proc/$p/exe; done`)).stdout.trim().split('\n').filter(Boolean);
  const deleted = (await c.exec(`for p in ${pids.join(' ')}; do readlink /proc/$p/exe; cat /proc/$p/maps; done | grep ' (deleted)$' | grep -v /memfd: || true`)).stdout.trim().split('\n').filter(Boolean);
  return { pids, exes, deleted };
}

const UPGRADE = `${VERSION.replace(/\.(\d+)$/, (_, n) => `.${Number(n) + 1}`)}~e2e`;

/** A .deb of version UPGRADE, built from this tree, to install over the package's own version. */
function upgradeDeb(): string {
  const dist = scratchDir('pga-dist-up-');
  const out = scratchDir('pga-pkg-up-');
  execFileSync(process.execPath, [path.join(ROOT, 'build/build.mjs'), '--no-typecheck', '--out', dist, '--version', UPGRADE], { stdio: 'ignore' });
  execFileSync(process.execPath, [path.join(ROOT, 'build/package.mjs'), '--dist', dist, '--out', out, '--version', UPGRADE, '--only', 'deb'], { stdio: 'ignore' });
  return path.join(out, fs.readdirSync(out).find((f) => f.endsWith('.deb'))!);
}

S('.deb under systemd: conffiles, dpkg -V clean; an upgrade over the running service runs the new version from files that exist; dpkg -r keeps config, key and logs; dpkg -P leaves the file system as it was', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const { deb } = packages();
  const root = await prepareRoot(await ensureTree('systemd'), 'pkg-deb');
  const host = tempDir('pga-deb-');
  fs.copyFileSync(deb, path.join(host, 'a.deb'));
  fs.copyFileSync(upgradeDeb(), path.join(host, 'b.deb'));
  try {
    const c = await boot(root, { binds: [{ host, guest: '/srv/pga' }] });
    const before = await fileList(c);
    const i = await c.exec('dpkg -i /srv/pga/a.deb', { timeoutMs: 120_000 });
    assert.is(i.code, 0, i.stdout + i.stderr);
    assert.match(i.stdout, new RegExp(`${VERSION} is running \\(supervisor and worker\\)`));
    assert.is((await c.exec('systemctl is-active phoenix-ga')).stdout, 'active\n');
    assert.is((await c.exec('systemctl is-enabled phoenix-ga')).stdout, 'enabled\n');
    assert.is((await c.exec('/usr/lib/phoenix-ga/current/node --version')).stdout, 'v20.20.2\n');
    const verify = await c.exec('dpkg -V phoenix-ga');
    assert.equal([verify.code, verify.stdout + verify.stderr], [0, ''], 'dpkg -V: every file as shipped');
    assert.match((await c.exec("dpkg-query -W -f='${Conffiles}' phoenix-ga")).stdout, /\/etc\/phoenix-ga\/phoenix-ga.conf [0-9a-f]{32}\n \/etc\/logrotate.d\/phoenix-ga [0-9a-f]{32}/);
    assert.match((await c.exec("dpkg-query -W -f='${Installed-Size}' phoenix-ga")).stdout, /^\d{5,}$/);
    assert.is((await c.exec('test -e /usr/lib/phoenix-ga/current/phoenix-ga-receiver.js || test -e /usr/lib/phoenix-ga/current/agent-test.js; echo $?')).stdout, '1\n', 'no panel program, no test worker');
    // The panel's provisioning writes the key; the agent writes its log and state.
    await c.exec(`umask 077; echo "k1 ${'ab'.repeat(32)}" > /etc/phoenix-ga/heartbeat.key`);
    await waitFor('the log', async () => (await c.exec('test -s /var/log/phoenix-ga.log && echo y')).stdout === 'y\n', 10_000, 200);

    // Upgrade over the running service.
    const old = await running(c);
    const u = await c.exec('dpkg -i /srv/pga/b.deb', { timeoutMs: 120_000 });
    assert.is(u.code, 0, u.stdout + u.stderr);
    assert.match(u.stdout, new RegExp(`${UPGRADE.replace(/\./g, '\\.')} is running \\(supervisor and worker\\)`));
    let now = await running(c);
    assert.is(now.pids.filter((p) => old.pids.includes(p)).length, 0, 'a new supervisor and worker');
    assert.equal(now.exes, [`/usr/lib/phoenix-ga/${UPGRADE}/node`, `/usr/lib/phoenix-ga/${UPGRADE}/node`]);
    assert.equal(now.deleted, [], 'nothing runs from deleted files');
    assert.equal((await c.exec('ls /usr/lib/phoenix-ga')).stdout.trim().split('\n'), [UPGRADE, 'current']);
    assert.equal([(await c.exec('dpkg -V phoenix-ga')).stdout], ['']);
    await c.exec(`kill -9 ${now.pids[1]}`);
    now = await waitFor('a new worker', async () => { const r = await running(c); return r.pids.length === 2 && r.pids[1] !== now.pids[1] && r; }, 10_000, 100);
    assert.equal(now.deleted, []);
    assert.equal(now.exes, [`/usr/lib/phoenix-ga/${UPGRADE}/node`, `/usr/lib/phoenix-ga/${UPGRADE}/node`]);

    // Remove: stopped; the package's files gone; config (a conffile), key, state and log kept.
    const r = await c.exec('dpkg -r phoenix-ga', { timeoutMs: 60_000 });
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.equal((await running(c)).pids, [], 'stopped');
    assert.is((await c.exec("dpkg-query -W -f='${Status}' phoenix-ga")).stdout, 'deinstall ok config-files');
    assert.is((await c.exec('ls /etc/phoenix-ga; test -e /usr/sbin/phoenix-ga || test -e /usr/lib/phoenix-ga || test -e /etc/systemd/system/phoenix-ga.service; echo $?')).stdout, 'heartbeat.key\nphoenix-ga.conf\n1\n');
    assert.is((await c.exec('test -s /var/log/phoenix-ga.log && test -d /var/lib/phoenix-ga && echo kept')).stdout, 'kept\n');

    // Purge: nothing of ours left, the key included.
    const p = await c.exec('dpkg -P phoenix-ga', { timeoutMs: 60_000 });
    assert.is(p.code, 0, p.stdout + p.stderr);
    assert.is((await c.exec("dpkg-query -W -f='${Status}' phoenix-ga 2>&1")).stdout.includes('no packages found'), true);
    assert.equal(await fileList(c), before, 'the file system is as before the install');
    await c.stop();
  } finally {
    await root.cleanup();
  }
});

S('.deb under sysvinit: postinst adds the inittab entry and starts it; dpkg -P leaves inittab and the file system as they were', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const { deb } = packages();
  const root = await prepareRoot(await ensureTree('sysvinit'), 'pkg-deb-sysv');
  const host = tempDir('pga-deb-sysv-');
  fs.copyFileSync(deb, path.join(host, 'a.deb'));
  try {
    const c = await boot(root, { binds: [{ host, guest: '/srv/pga' }] });
    const before = await fileList(c);
    const inittab = (await c.exec('cat /etc/inittab')).stdout;
    const i = await c.exec('dpkg -i /srv/pga/a.deb', { timeoutMs: 120_000 });
    assert.is(i.code, 0, i.stdout + i.stderr);
    assert.match(i.stdout, /is running \(supervisor and worker\)/);
    assert.match((await c.exec('cat /etc/inittab')).stdout, /^PGA:2345:respawn:\/usr\/sbin\/phoenix-ga$/m);
    assert.equal([(await c.exec('dpkg -V phoenix-ga')).stdout], ['']);
    const p = await c.exec('dpkg -P phoenix-ga', { timeoutMs: 60_000 });
    assert.is(p.code, 0, p.stdout + p.stderr);
    await waitFor('stopped', async () => (await running(c)).pids.length === 0, 15_000, 200);
    assert.is((await c.exec('cat /etc/inittab')).stdout, inittab);
    assert.equal(await fileList(c), before);
    await c.stop();
  } finally {
    await root.cleanup();
  }
});

S('.deb: lintian finds nothing, with every tag at every level; each override says why (build/deb/lintian-overrides)', () => {
  const { deb } = packages();
  const r = spawnSync('lintian', ['-EIL', '+pedantic', '--fail-on', 'error,warning,info,pedantic,experimental', '--tag-display-limit', '0', deb], { encoding: 'utf8' });
  if (r.error) throw new Error('lintian is missing: apt-get install lintian (build/setup.sh does)');
  assert.is(r.stdout.split('\n').filter((l) => /^[EWIPX]: /.test(l)).join('\n'), '');
  assert.is(r.status, 0, r.stderr);
  const files = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8' });
  for (const doc of DOCS) assert.match(files, new RegExp(`\\./usr/share/doc/phoenix-ga/${doc.replace('.', '\\.')}(\\.gz)?\\n`), `${doc}, which --help promises`);
  assert.match(files, /\.\/usr\/share\/man\/man8\/phoenix-ga\.8\.gz\n/);
  for (const line of fs.readFileSync(path.join(ROOT, 'build/deb/lintian-overrides'), 'utf8').split('\n').filter((l) => l.startsWith('phoenix-ga:'))) {
    const text = fs.readFileSync(path.join(ROOT, 'build/deb/lintian-overrides'), 'utf8');
    assert.match(text.slice(0, text.indexOf(line)), /# [^\n]+\n[^#]*$/, `a reason above ${line}`);
  }
});

S.run();

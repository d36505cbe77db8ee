// The .deb and updates over the channel on one server, with real dpkg in a booted systemd
// container; the panel's client (phoenix-ga-ctl update, on the host) pushes releases. dpkg owns
// only the version directory it unpacked: updates never remove it (dpkg -V stays clean); a newer
// .deb replaces a channel version; an older .deb (a repository behind the panel) leaves the newer
// channel version running and says so, unless the operator asks; dpkg -r and -P remove what the
// updates added, so nothing is left.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { ROOT, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { buildVersion, scratchDir } from '../helpers/versions';
import { boot, Container, prepareRoot } from './lib/nspawn';
import { ensureTree } from './lib/rootfs';

// Packages 0.9.0 and 0.9.2; releases over the channel 0.9.1, 0.9.3 and 0.9.4.
const [D1, B, D2, C, E] = ['0.9.0', '0.9.1', '0.9.2', '0.9.3', '0.9.4'];
const LIB = '/usr/lib/phoenix-ga';
const tool = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'build/release.mjs'), ...args], { encoding: 'utf8' });
const run = promisify(execFile);

/** A .deb of VERSION that trusts the release keys in KEYS. */
async function deb(version: string, keys: string): Promise<string> {
  const dist = scratchDir(`pga-dist-${version}-`);
  const out = scratchDir(`pga-pkg-${version}-`);
  await run(process.execPath, [path.join(ROOT, 'build/build.mjs'), '--no-typecheck', '--out', dist, '--version', version]);
  await run(process.execPath, [path.join(ROOT, 'build/package.mjs'), '--dist', dist, '--out', out, '--version', version, '--only', 'deb', '--release-keys', keys, '--no-compress']);
  return path.join(out, `phoenix-ga_${version}_amd64.deb`);
}

/** A signed release of VERSION without a runtime: it runs on the installed one. */
function release(version: string, key: string): string {
  const out = scratchDir(`pga-rel-${version}-`);
  const r = tool('--key', key, '--from', buildVersion(version, process.execPath), '--out', out);
  assert.is(r.status, 0, r.stderr);
  return out;
}

function ctlUpdate(sock: string, rel: string): string {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist/phoenix-ga-ctl.js'), '--socket', sock, 'update', '--release', rel, '--window', '20'], { encoding: 'utf8', timeout: 180_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  return r.stdout;
}

async function servingVersion(sock: string): Promise<string> {
  return waitFor('the agent answers', async () => {
    try { const c = await QgaClient.connect(sock); try { return (await c.request('guest-info', undefined, 5000)).return?.version as string; } finally { c.close(); } } catch { return null; }
  }, 60_000, 200);
}

/** The layout: what LIB holds and the version `current` names. */
async function layout(c: Container): Promise<{ dirs: string[]; current: string }> {
  const r = await c.exec(`ls ${LIB}; readlink ${LIB}/current`);
  const lines = r.stdout.trim().split('\n');
  return { dirs: lines.slice(0, -1), current: lines[lines.length - 1] };
}

/** dpkg -V: every file as shipped, but the config (changed on purpose for the test's socket). */
async function dpkgVerify(c: Container): Promise<string> {
  const r = await c.exec('dpkg -V phoenix-ga');
  return r.stdout.split('\n').filter((l) => l && l !== '??5?????? c /etc/phoenix-ga/phoenix-ga.conf').join('\n') + r.stderr;
}

/** Every path on the container's root file system, minus what dpkg, apt, journald and booting change. */
async function fileList(c: Container): Promise<string[]> {
  const prune = ['/proc', '/sys', '/dev', '/run', '/tmp', '/var/tmp', '/srv', '/var/lib/dpkg', '/var/cache', '/var/log/journal', '/var/lib/systemd'];
  const r = await c.exec(`find / -xdev \\( ${prune.map((p) => `-path ${p}`).join(' -o ')} \\) -prune -o -print | sort`, { timeoutMs: 60_000 });
  return r.stdout.split('\n').filter((l) => l && !/^\/var\/log\/(dpkg\.log|apt|alternatives\.log)/.test(l));
}

const supervisorPid = async (c: Container) => (await c.exec('pgrep -x phoenix-ga')).stdout.trim();

const S = suite('.deb and updates over the channel');

S('dpkg owns only its version directory: updates keep it (dpkg -V clean), a newer .deb wins, an older one does not downgrade unless asked, dpkg -r/-P leave nothing', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const keys = scratchDir('pga-dvc-keys-');
  const id = /^key (\w{16}):/.exec(tool('keygen', '--out', path.join(keys, 'release.key')).stdout)![1];
  const trusted = scratchDir('pga-dvc-trusted-');
  fs.copyFileSync(path.join(keys, 'release.key.pub'), path.join(trusted, `${id}.pub`));
  const host = scratchDir('pga-dvc-');
  const [d1, d2] = await Promise.all([deb(D1, trusted), deb(D2, trusted)]);
  fs.copyFileSync(d1, path.join(host, 'd1.deb'));
  fs.copyFileSync(d2, path.join(host, 'd2.deb'));
  const key = path.join(keys, 'release.key');
  const [relB, relC, relE] = [release(B, key), release(C, key), release(E, key)];
  const sock = path.join(host, 'agent.sock');
  const root = await prepareRoot(await ensureTree('systemd'), 'deb-vs-channel');
  try {
    const c = await boot(root, { binds: [{ host, guest: '/srv/pga' }] });
    const before = await fileList(c);
    const dpkg = async (cmd: string) => {
      const r = await c.exec(cmd, { timeoutMs: 180_000 });
      assert.is(r.code, 0, r.stdout + r.stderr);
      return r.stdout;
    };
    await dpkg('dpkg -i /srv/pga/d1.deb');
    await dpkg(`sed -i 's|^channel = .*|channel = unix:/srv/pga/agent.sock|' /etc/phoenix-ga/phoenix-ga.conf && systemctl restart phoenix-ga`);
    assert.is(await servingVersion(sock), D1);

    // A newer .deb over a version an update installed: the .deb's runs; the update's goes.
    assert.is(ctlUpdate(sock, relB), `${B} runs; the update from ${D1} is final\n`);
    assert.equal(await layout(c), { dirs: [D1, B, 'current', 'update'], current: B });
    assert.is(await dpkgVerify(c), '');
    assert.match(await dpkg('dpkg -i --force-confold /srv/pga/d2.deb'), `${D2} is running (supervisor and worker)`);
    assert.is(await servingVersion(sock), D2);
    assert.equal(await layout(c), { dirs: [D2, 'current', 'update'], current: D2 });
    assert.is(await dpkgVerify(c), '');

    // Two updates: the clean-up keeps the .deb's directory, though older than the previous one.
    ctlUpdate(sock, relC);
    assert.is(ctlUpdate(sock, relE), `${E} runs; the update from ${C} is final\n`);
    assert.equal(await layout(c), { dirs: [D2, C, E, 'current', 'update'], current: E });
    assert.is(await dpkgVerify(c), '', 'dpkg -V: the .deb\'s files are all there');

    // An older .deb (dpkg downgrades the package): the newer version keeps running, and it says so.
    const pid = await supervisorPid(c);
    assert.match(await dpkg('dpkg -i --force-confold /srv/pga/d1.deb'), `${E} keeps running: an update over the channel installed it and it is newer than this package's ${D1}`);
    assert.is(await supervisorPid(c), pid, 'not restarted');
    assert.is(await servingVersion(sock), E);
    assert.equal(await layout(c), { dirs: [D1, E, 'current', 'update'], current: E });
    assert.is(await dpkgVerify(c), '');
    assert.is((await c.exec("dpkg-query -W -f='${Version}' phoenix-ga")).stdout, D1);

    // Asked for: the package's version runs.
    assert.match(await dpkg('PHOENIX_GA_ALLOW_DOWNGRADE=yes dpkg-reconfigure phoenix-ga'), `${D1} is running (supervisor and worker)`);
    assert.is(await servingVersion(sock), D1);
    assert.equal(await layout(c), { dirs: [D1, 'current', 'update'], current: D1 });
    assert.is(await dpkgVerify(c), '');

    // Remove and purge after an update: the update's version and records go too.
    ctlUpdate(sock, relC);
    assert.equal(await layout(c), { dirs: [D1, C, 'current', 'update'], current: C });
    await dpkg('dpkg -r phoenix-ga');
    assert.is((await c.exec('pgrep -x phoenix-ga; pgrep -x phoenix-ga-work; ls /usr/lib/phoenix-ga /usr/sbin/phoenix-ga 2>&1')).stdout,
      'ls: cannot access \'/usr/lib/phoenix-ga\': No such file or directory\nls: cannot access \'/usr/sbin/phoenix-ga\': No such file or directory\n');
    await dpkg('dpkg -P phoenix-ga');
    assert.equal(await fileList(c), before, 'the file system is as before the install');
    await c.stop();
  } finally {
    await root.cleanup();
  }
});

S.run();

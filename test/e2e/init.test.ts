// phoenix-ga installed by its own installer from outside, as the automation does it (into the
// tree of a stopped system), then booted with real systemd and real sysvinit in systemd-nspawn:
// it starts at boot, answers on its channel (a unix socket in a directory bound from the host),
// init restarts a killed supervisor, the supervisor restarts a killed worker, nothing parks a
// crash-looping agent, it is back after a reboot, and uninstall takes it away again.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, tempDir, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { boot, Container, prepareRoot } from './lib/nspawn';
import { ensureTree } from './lib/rootfs';

const CLI = path.join(ROOT, 'dist/phoenix-ga');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Install from outside, with a config that puts the channel on a unix socket the host can reach. */
function installInto(merged: string, extraConfig = ''): void {
  const r = spawnSync(CLI, ['install', '--root', merged], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stdout + r.stderr);
  const cfg = path.join(merged, 'etc/phoenix-ga/phoenix-ga.conf');
  fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace(/^channel = .*$/m, 'channel = unix:/srv/pga/agent.sock') + `heartbeat-interval = 0.5\nhang-timeout = 5\n${extraConfig}`);
}

async function pids(c: Container): Promise<{ sup: number[]; worker: number[] }> {
  const p = async (name: string) => (await c.exec(`pgrep -x ${name} || true`)).stdout.trim().split('\n').filter(Boolean).map(Number);
  return { sup: await p('phoenix-ga'), worker: await p('phoenix-ga-work') };
}

async function ping(sock: string): Promise<unknown> {
  const c = await QgaClient.connect(sock);
  try { return await c.request('guest-ping', undefined, 5000); } finally { c.close(); }
}

for (const kind of ['systemd', 'sysvinit'] as const) {
  const S = suite(`${kind} in systemd-nspawn`);
  S(`${kind}: installed from outside, started at boot, restarted by init and by the supervisor, back after reboot, gone after uninstall`, async () => {
    if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
    const root = await prepareRoot(await ensureTree(kind), `init-${kind}`);
    const host = tempDir(`pga-${kind}-`);
    const inittabBefore = kind === 'sysvinit' ? fs.readFileSync(path.join(root.merged, 'etc/inittab'), 'utf8') : '';
    try {
      installInto(root.merged);
      if (kind === 'systemd') {
        const v = spawnSync('systemd-analyze', ['verify', `--root=${root.merged}`, '/etc/systemd/system/phoenix-ga.service'], { encoding: 'utf8' });
        assert.is(v.status, 0, `systemd-analyze verify: ${v.stdout}${v.stderr}`);
      }
      let c = await boot(root, { binds: [{ host, guest: '/srv/pga' }] });
      const sock = path.join(host, 'agent.sock');
      await waitFor('the product page check prints OK', async () => (await c.exec('ps -C phoenix-ga >/dev/null && echo OK || echo Error')).stdout === 'OK\n', 15_000, 200);
      assert.match((await c.exec('ps -o args= -C phoenix-ga')).stdout, /^\/usr\/sbin\/phoenix-ga\n$/, 'shown as /usr/sbin/phoenix-ga');
      await waitFor('agent answers', async () => { try { return JSON.stringify(await ping(sock)) === '{"return":{}}'; } catch { return false; } }, 15_000, 200);
      if (kind === 'systemd') assert.is((await c.exec('systemctl is-active phoenix-ga')).stdout, 'active\n');

      // kill -9 of the supervisor: init starts a new one, and no old worker survives.
      const before = await pids(c);
      assert.is(before.sup.length, 1);
      assert.is(before.worker.length, 1);
      const t0 = Date.now();
      await c.exec(`kill -9 ${before.sup[0]}`);
      const after = await waitFor('a new supervisor', async () => { const p = await pids(c); return p.sup.length === 1 && p.sup[0] !== before.sup[0] && p.worker.length === 1 && p; }, 10_000, 20);
      const restartMs = Date.now() - t0;
      assert.not.ok(after.worker.includes(before.worker[0]), 'the old worker is gone');
      assert.is((await pids(c)).worker.length, 1, 'exactly one worker');
      console.log(`    ${kind}: supervisor kill -9 -> new supervisor and worker in ${restartMs} ms`);
      await waitFor('agent answers again', async () => { try { return !!(await ping(sock)); } catch { return false; } }, 10_000, 100);

      // kill -9 of the worker: the supervisor restarts it.
      await c.exec(`kill -9 ${after.worker[0]}`);
      await waitFor('a new worker', async () => { const p = await pids(c); return p.worker.length === 1 && p.worker[0] !== after.worker[0] && p.sup[0] === after.sup[0]; }, 10_000, 20);

      // Reboot: back by itself.
      c = await c.reboot();
      await waitFor('back after reboot', async () => (await c.exec('ps -C phoenix-ga >/dev/null && echo OK || echo Error')).stdout === 'OK\n', 15_000, 200);
      await waitFor('answers after reboot', async () => { try { return !!(await ping(sock)); } catch { return false; } }, 15_000, 200);
      await c.stop();

      // Uninstall from outside: our files gone, the customer's inittab as it was.
      const u = spawnSync(CLI, ['uninstall', '--root', root.merged], { encoding: 'utf8' });
      assert.is(u.status, 0, u.stderr);
      // The config was changed after install (the channel above), so it stays, as an operator's would.
      assert.match(u.stdout, /kept \/etc\/phoenix-ga\/phoenix-ga.conf \(changed since installed\)/);
      for (const p of ['usr/sbin/phoenix-ga', 'usr/lib/phoenix-ga', 'etc/systemd/system/phoenix-ga.service', 'etc/systemd/system/multi-user.target.wants/phoenix-ga.service', 'var/lib/phoenix-ga', 'var/log/phoenix-ga.log']) {
        assert.not.ok(fs.existsSync(path.join(root.merged, p)), `${p} removed`);
      }
      if (kind === 'sysvinit') assert.is(fs.readFileSync(path.join(root.merged, 'etc/inittab'), 'utf8'), inittabBefore);
      c = await boot(root, { binds: [{ host, guest: '/srv/pga' }] });
      await sleep(1500);
      assert.is((await c.exec('ps -C phoenix-ga >/dev/null && echo OK || echo Error')).stdout, 'Error\n', 'not started any more');
      await c.stop();
    } finally {
      await root.cleanup();
    }
  });
  S.run();
}

const L = suite('systemd never parks phoenix-ga');
L('a supervisor that exits at once (a bad config) keeps being restarted past the default start limit, and runs once the config is fixed', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const root = await prepareRoot(await ensureTree('systemd'), 'init-startlimit');
  const host = tempDir('pga-limit-');
  try {
    installInto(root.merged, 'heartbeat-interval = soon\n');
    const c = await boot(root, { binds: [{ host, guest: '/srv/pga' }] });
    // RestartSec=0.5: 8 s is 12+ starts, more than twice systemd's default limit of 5 in 10 s.
    await sleep(8000);
    const n = Number((await c.exec('systemctl show -p NRestarts --value phoenix-ga')).stdout.trim());
    assert.ok(n >= 8, `only ${n} restarts`);
    assert.not.match((await c.exec('systemctl is-failed phoenix-ga || true')).stdout, /^failed/);
    const cfg = path.join(root.merged, 'etc/phoenix-ga/phoenix-ga.conf');
    fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('heartbeat-interval = soon\n', ''));
    await waitFor('running once fixed', async () => (await c.exec('systemctl is-active phoenix-ga')).stdout === 'active\n' && (await pids(c)).worker.length === 1, 15_000, 300);
    await c.stop();
  } finally {
    await root.cleanup();
  }
});
L.run();

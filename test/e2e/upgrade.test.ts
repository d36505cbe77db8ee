// Upgrading a running install, booted with real systemd and real sysvinit in systemd-nspawn:
// version A (on Node 16, as the tarball) installed from outside and running, then version B (on
// Node 20) installed from inside the running system, as an operator does it. B must be what
// runs, from files that exist, also after its worker is killed; the old version's directory is
// gone; a version whose worker never becomes ready is rolled back with A... B left running.
// Upstart cannot boot here: test/install/upgrade.test.ts checks its commands statically.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { buildVersion, installForContainer, nodeRuntime, scratchDir } from '../helpers/versions';
import { boot, Container, prepareRoot } from './lib/nspawn';
import { ensureTree } from './lib/rootfs';

const [A, B, C] = ['0.9.0-a', '0.9.0-b', '0.9.0-c'];

async function request(sock: string, cmd: string): Promise<{ return?: Record<string, unknown> }> {
  const c = await QgaClient.connect(sock);
  try { return await c.request(cmd, undefined, 5000); } finally { c.close(); }
}

/** The version the agent on SOCK reports, once it answers. */
async function servingVersion(sock: string, timeoutMs = 20_000): Promise<string> {
  return waitFor('the agent answers', async () => { try { return (await request(sock, 'guest-info')).return?.version as string; } catch { return null; } }, timeoutMs, 200);
}

/** Supervisor and worker pids, each process's executable, and any file it runs from that is deleted. */
async function ours(c: Container): Promise<{ sup: number[]; worker: number[]; exes: string[]; deleted: string[] }> {
  const ids = async (n: string) => (await c.exec(`pgrep -x ${n} || true`)).stdout.trim().split('\n').filter(Boolean).map(Number);
  const sup = await ids('phoenix-ga');
  const worker = await ids('phoenix-ga-work');
  const all = [...sup, ...worker].join(' ');
  const exes = (await c.exec(`for p in ${all}; do readlink /proc/$p/exe; done`)).stdout.trim().split('\n').filter(Boolean);
  const deleted = (await c.exec(`for p in ${all}; do readlink /proc/$p/exe; cat /proc/$p/maps; done | grep ' (deleted)$' | grep -v /memfd: || true`)).stdout.trim().split('\n').filter(Boolean);
  return { sup, worker, exes, deleted };
}

for (const kind of ['systemd', 'sysvinit'] as const) {
  const S = suite(`upgrade under ${kind}`);
  S(`${kind}: B installed over a running A is what runs, from files that exist, also after a worker kill; a B whose worker never starts is rolled back`, async () => {
    if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
    const a = buildVersion(A, nodeRuntime('16.20.2'));
    const b = buildVersion(B, nodeRuntime('20.20.2'));
    const broken = buildVersion(C, nodeRuntime('20.20.2'));
    fs.writeFileSync(path.join(broken, 'agent.js'), 'process.exit(1)\n');
    const root = await prepareRoot(await ensureTree(kind), `upgrade-${kind}`);
    const host = scratchDir(`pga-upgrade-${kind}-`);
    const sock = path.join(host, 'agent.sock');
    try {
      installForContainer(a, root.merged);
      const c = await boot(root, { binds: [{ host, guest: '/srv/pga' }, { host: b, guest: '/srv/b', readOnly: true }, { host: broken, guest: '/srv/c', readOnly: true }] });
      assert.is(await servingVersion(sock), A);
      const before = await ours(c);
      assert.is(before.sup.length, 1);

      // B over the running A, from inside, as an operator runs it.
      const up = await c.exec('/srv/b/phoenix-ga install', { timeoutMs: 90_000 });
      assert.is(up.code, 0, up.stdout + up.stderr);
      assert.match(up.stdout, new RegExp(`${B} is running \\(supervisor and worker\\)`));
      assert.match(up.stdout, new RegExp(`removed old version /usr/lib/phoenix-ga/${A}`));
      let now = await ours(c);
      assert.not.ok(now.sup.includes(before.sup[0]), 'a new supervisor');
      assert.equal(now.exes, [`/usr/lib/phoenix-ga/${B}/node`, `/usr/lib/phoenix-ga/${B}/node`], 'supervisor and worker run B');
      assert.equal(now.deleted, [], 'nothing runs from deleted files');
      assert.is(await servingVersion(sock), B);
      assert.is((await c.exec('phoenix-ga status | head -1')).stdout.split(':')[0], `phoenix-ga ${B}`);

      // The worker killed: B's supervisor starts B's worker, from files that exist.
      await c.exec(`kill -9 ${now.worker[0]}`);
      const killed = now.worker[0];
      now = await waitFor('a new worker', async () => { const o = await ours(c); return o.worker.length === 1 && o.worker[0] !== killed && o; }, 10_000, 100);
      assert.equal(now.exes, [`/usr/lib/phoenix-ga/${B}/node`, `/usr/lib/phoenix-ga/${B}/node`]);
      assert.equal(now.deleted, []);
      assert.is(await servingVersion(sock), B);
      assert.not.match((await c.exec('cat /var/log/phoenix-ga.log')).stdout, /ENOENT|unrecognized flag/);

      // A version whose worker never becomes ready: back to B, which runs again.
      const bad = await c.exec('/srv/c/phoenix-ga install', { timeoutMs: 120_000 });
      assert.is(bad.code, 1, bad.stdout + bad.stderr);
      assert.match(bad.stderr, new RegExp(`${C} is not running after 30 s`));
      assert.match(bad.stderr, new RegExp(`${B} is running again`));
      assert.is((await c.exec('readlink /usr/lib/phoenix-ga/current')).stdout.trim(), B);
      assert.is(await servingVersion(sock), B);
      now = await ours(c);
      assert.equal(now.deleted, []);
      assert.equal((await c.exec('ls /usr/lib/phoenix-ga')).stdout.trim().split('\n'), [B, 'current']);

      // Uninstall from inside: stopped first, then nothing of ours is left.
      const u = await c.exec('/usr/sbin/phoenix-ga uninstall', { timeoutMs: 60_000 });
      assert.is(u.code, 0, u.stdout + u.stderr);
      now = await ours(c);
      assert.equal([now.sup, now.worker], [[], []]);
      assert.is((await c.exec('test -e /usr/lib/phoenix-ga || test -e /usr/sbin/phoenix-ga; echo $?')).stdout, '1\n');
      await c.stop();
    } finally {
      await root.cleanup();
    }
  });
  S.run();
}

// Updates over the channel in a booted system, with real systemd and real sysvinit in
// systemd-nspawn: A is installed from a package that brings its release key; the panel's client
// (phoenix-ga-ctl update, on the host, over the agent's socket) pushes releases. A wrongly signed
// release is refused and nothing changes; B is applied and is what runs; a release whose worker
// dies at start and one whose supervisor cannot start come back to B by themselves, each saying why.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { buildVersion, installForContainer, nodeRuntime, scratchDir } from '../helpers/versions';
import { boot, Container, prepareRoot } from './lib/nspawn';
import { ensureTree } from './lib/rootfs';

const [A, B, C, D] = ['0.9.0', '0.9.1', '0.9.2', '0.9.3'];
const tool = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'build/release.mjs'), ...args], { encoding: 'utf8' });

async function servingVersion(sock: string, timeoutMs = 30_000): Promise<string> {
  return waitFor('the agent answers', async () => {
    try { const c = await QgaClient.connect(sock); try { return (await c.request('guest-info', undefined, 5000)).return?.version as string; } finally { c.close(); } } catch { return null; }
  }, timeoutMs, 200);
}

const builds = new Map<string, string>();
function release(version: string, key: string, broken?: (dir: string) => void): string {
  const b = broken ? buildVersion(version, process.execPath) : builds.get(version) ?? buildVersion(version, process.execPath);
  if (!broken) builds.set(version, b);
  broken?.(b);
  const out = scratchDir(`pga-rel-${version}-`);
  const r = tool('--key', key, '--from', b, '--out', out);
  assert.is(r.status, 0, r.stderr);
  return out;
}

function ctlUpdate(sock: string, rel: string, window = 15): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [path.join(ROOT, 'dist/phoenix-ga-ctl.js'), '--socket', sock, 'update', '--release', rel, '--window', String(window)], { encoding: 'utf8', timeout: 180_000 });
}

/** The executables our supervisor and worker run from. */
async function exes(c: Container): Promise<string[]> {
  return (await c.exec('for p in $(pgrep -x phoenix-ga; pgrep -x phoenix-ga-work); do readlink /proc/$p/exe; done')).stdout.trim().split('\n').filter(Boolean);
}

for (const kind of ['systemd', 'sysvinit'] as const) {
  const S = suite(`update over the channel under ${kind}`);
  S(`${kind}: wrong key refused, nothing changed; A -> B runs B; a worker dying at start and a supervisor failing to start roll back to B by themselves`, async () => {
    if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
    const keys = scratchDir('pga-e2e-keys-');
    const made = tool('keygen', '--out', path.join(keys, 'release.key'));
    tool('keygen', '--out', path.join(keys, 'other.key'));
    const id = /^key (\w{16}):/.exec(made.stdout)![1];
    const a = buildVersion(A, nodeRuntime('16.20.2'));
    fs.mkdirSync(path.join(a, 'init/release-keys'));
    fs.copyFileSync(path.join(keys, 'release.key.pub'), path.join(a, 'init/release-keys', `${id}.pub`));
    const key = path.join(keys, 'release.key');
    const wrong = release(B, path.join(keys, 'other.key'));
    const good = release(B, key);
    const workerDies = release(C, key, (d) => fs.writeFileSync(path.join(d, 'agent.js'), 'process.exit(3)\n'));
    const supervisorFails = release(D, key, (d) => fs.writeFileSync(path.join(d, 'supervisor.js'), `if (process.argv.includes('--version')) console.log('phoenix-ga ${D}'); else throw new Error('broken');\n`));
    const root = await prepareRoot(await ensureTree(kind), `update-${kind}`);
    const host = scratchDir(`pga-update-${kind}-`);
    const sock = path.join(host, 'agent.sock');
    try {
      installForContainer(a, root.merged);
      const c = await boot(root, { binds: [{ host, guest: '/srv/pga' }] });
      assert.is(await servingVersion(sock), A);
      assert.is((await c.exec('ls /etc/phoenix-ga/release-keys')).stdout, `${id}.pub\n`);

      // Signed with a key the server does not trust: refused, and nothing changed.
      const pidBefore = (await c.exec('pgrep -x phoenix-ga')).stdout;
      const w = ctlUpdate(sock, wrong);
      assert.is(w.status, 1, w.stdout + w.stderr);
      assert.match(w.stderr, new RegExp(`release ${B} refused: the release is signed with key \\w{16}, which is not installed \\(installed: ${id}\\)`));
      assert.is((await c.exec('readlink /usr/lib/phoenix-ga/current; ls /usr/lib/phoenix-ga; pgrep -x phoenix-ga')).stdout, `${A}\n${A}\ncurrent\n${pidBefore}`);

      // A -> B.
      const up = ctlUpdate(sock, good);
      assert.is(up.status, 0, up.stdout + up.stderr);
      assert.is(up.stdout, `${B} runs; the update from ${A} is final\n`);
      assert.is(await servingVersion(sock), B);
      assert.equal(await exes(c), [`/usr/lib/phoenix-ga/${B}/node`, `/usr/lib/phoenix-ga/${B}/node`]);

      // The worker of C dies at start: C's supervisor switches back at the end of the window.
      const cw = ctlUpdate(sock, workerDies, 10);
      assert.is(cw.status, 1, cw.stdout + cw.stderr);
      assert.match(cw.stdout, new RegExp(`^update to ${C} failed, ${B} runs again: the worker of ${C} was not ready and up for 5 s within 10 s \\(last exit: crash, exit code 3\\)`));
      assert.is(await servingVersion(sock), B);
      assert.is((await c.exec('readlink /usr/lib/phoenix-ga/current')).stdout, `${B}\n`);

      // D's supervisor cannot start: the launcher switches back after three starts.
      const ds = ctlUpdate(sock, supervisorFails, 10);
      assert.is(ds.status, 1, ds.stdout + ds.stderr);
      assert.match(ds.stdout, new RegExp(`^update to ${D} failed, ${B} runs again: the supervisor of ${D} did not start \\(3 starts\\)`));
      assert.is(await servingVersion(sock), B);
      assert.equal(await exes(c), [`/usr/lib/phoenix-ga/${B}/node`, `/usr/lib/phoenix-ga/${B}/node`]);
      // The heartbeat's source: the supervisor's status says the same.
      const st = JSON.parse((await c.exec('cat /run/phoenix-ga/state.json')).stdout);
      assert.is(st.supervisor.version, B);
      await c.stop();
    } finally {
      await root.cleanup();
    }
  });
  S.run();
}

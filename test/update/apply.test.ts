// Updates applied over the channel to an agent installed in a tree of its own (LIB/VERSION,
// LIB/current, the launcher), restarted by a respawn loop as init's respawn entry restarts it:
// a wrongly signed release changes nothing; A -> B is applied and B answers; a B whose worker dies
// at start and a B whose supervisor cannot start both come back to the previous version by
// themselves, and the heartbeat and phoenix-agent-status say update-failed and why.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { cleanEnv, ROOT, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { startReceiver, TestReceiver } from '../helpers/receiver';
import { buildVersion, scratchDir } from '../helpers/versions';
import type { PersistedState } from '../../supervisor/state-store';

const t = scratchDir('pga-apply-');
const lib = path.join(t, 'usr/lib/phoenix-ga');
const etc = path.join(t, 'etc');
const sock = path.join(t, 'agent.sock');
const runDir = path.join(t, 'run');
const tool = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'build/release.mjs'), ...args], { encoding: 'utf8' });

/** A signed release of the build tree BUILD (built with `version`), made by the release tool. */
function release(build: string, key: string, ...more: string[]): string {
  const out = scratchDir('pga-rel-');
  const r = tool('--key', key, '--from', build, '--out', out, ...more);
  assert.is(r.status, 0, r.stderr);
  return out;
}

async function upload(c: QgaClient, rel: string): Promise<string> {
  const m = JSON.parse(fs.readFileSync(path.join(rel, 'manifest.json'), 'utf8'));
  for (const name of ['manifest.json', 'manifest.sig', ...m.files.map((f: { name: string }) => f.name)]) {
    const bytes = fs.readFileSync(path.join(rel, name));
    for (let off = 0; off === 0 || off < bytes.length; off += 48 << 10) {
      const end = Math.min(bytes.length, off + (48 << 10));
      const r = await c.request('phoenix-release-put', { version: m.version, file: name, offset: off, data: bytes.subarray(off, end).toString('base64'), ...(end === bytes.length ? { sha256: crypto.createHash('sha256').update(bytes).digest('hex') } : {}) });
      assert.is(r.error, undefined, JSON.stringify(r.error));
    }
  }
  return m.version;
}

const state = (): PersistedState | null => { try { return JSON.parse(fs.readFileSync(path.join(runDir, 'state.json'), 'utf8')); } catch { return null; } };
const running = (v: string) => waitFor(`${v} running and ready`, () => { const s = state(); return s?.supervisor.version === v && s.worker.state === 'ready' && s; }, 60_000);
const current = () => fs.readlinkSync(path.join(lib, 'current'));

let loop: ChildProcess;
let hb: TestReceiver;
let keyA: string;

test.before(async () => {
  fs.mkdirSync(lib, { recursive: true });
  fs.mkdirSync(path.join(etc, 'release-keys'), { recursive: true, mode: 0o700 });
  fs.chmodSync(etc, 0o700);
  fs.writeFileSync(path.join(etc, 'phoenix-ga.conf'), '', { mode: 0o600 });
  keyA = path.join(t, 'release.key');
  tool('keygen', '--out', keyA);
  tool('keygen', '--out', path.join(t, 'other.key'));
  const pub = fs.readFileSync(`${keyA}.pub`, 'utf8');
  const kid = crypto.createHash('sha256').update(crypto.createPublicKey(pub).export({ format: 'der', type: 'spki' }).subarray(-32)).digest('hex').slice(0, 16);
  fs.writeFileSync(path.join(etc, 'release-keys', `${kid}.pub`), pub, { mode: 0o644 });
  // A, installed as the installer lays it out.
  const a = buildVersion('0.9.0', process.execPath);
  fs.cpSync(a, path.join(lib, '0.9.0'), { recursive: true });
  fs.symlinkSync('0.9.0', path.join(lib, 'current'));
  const launcher = path.join(t, 'phoenix-ga');
  fs.writeFileSync(launcher, fs.readFileSync(path.join(ROOT, 'init/phoenix-ga.sh'), 'utf8').replace('@LIB@', path.join(lib, 'current')), { mode: 0o755 });
  hb = await startReceiver(t);
  const args = ['run', '--config', path.join(etc, 'phoenix-ga.conf'), '--channel', `unix:${sock}`, '--run-dir', runDir, '--state-dir', path.join(t, 'state'),
    '--log-file', path.join(t, 'log'), '--heartbeat', `127.0.0.1:${hb.port}`, '--heartbeat-key', hb.keyFile, '--heartbeat-interval', '0.2', '--vm-id', 'vm-test'];
  // init's respawn entry: start the launcher again whenever it exits.
  loop = spawn('sh', ['-c', `while :; do "$0" "$@"; echo "exit $?" >> ${t}/exits; sleep 0.3; done`, launcher, ...args], { stdio: 'ignore', detached: true, env: cleanEnv() });
  await running('0.9.0');
});

test.after(() => {
  try { process.kill(-loop.pid!, 'SIGKILL'); } catch { /* gone */ }
  const s = state();
  if (s?.worker.pid) try { process.kill(s.worker.pid, 'SIGKILL'); } catch { /* gone */ }
  hb.close();
});

test('a release signed with a key that is not installed is refused and nothing changes', async () => {
  const b = buildVersion('0.9.1', process.execPath);
  const rel = release(b, path.join(t, 'other.key'));
  const before = { pid: state()!.supervisor.pid, lib: fs.readdirSync(lib).sort(), current: current() };
  const c = await QgaClient.connect(sock);
  await upload(c, rel);
  const r = await c.request('phoenix-release-apply', { version: '0.9.1' });
  assert.match(r.error.desc, /^release 0.9.1 refused: the release is signed with key \w{16}, which is not installed \(installed: \w{16}\)$/);
  c.close();
  await new Promise((res) => setTimeout(res, 1000));
  assert.equal({ pid: state()!.supervisor.pid, lib: fs.readdirSync(lib).sort(), current: current() }, before);
});

test('A -> B: applied, the agent restarts into B and answers as B, the update is final and reported; B\'s next key is installed', async () => {
  const nextId = /^key (\w{16}):/.exec(tool('keygen', '--out', path.join(t, 'next.key')).stdout)![1];
  const rel = release(buildVersion('0.9.1', process.execPath), keyA, '--next-key', path.join(t, 'next.key.pub'));
  let c = await QgaClient.connect(sock);
  await upload(c, rel);
  const r = await c.request('phoenix-release-apply', { version: '0.9.1', window: 30 });
  assert.equal(r.return, { version: '0.9.1', previous: '0.9.0', state: 'restarting', window_s: 30 });
  await running('0.9.1');
  assert.is(current(), '0.9.1');
  c = await waitFor('a connection to B', () => QgaClient.connect(sock).catch(() => null), 10_000);
  assert.is((await c.request('guest-info')).return.version, '0.9.1');
  // Final once the worker stayed up: the status and the heartbeat say so.
  await waitFor('updated', async () => (await c.request('phoenix-agent-status')).return.update?.state === 'updated', 15_000);
  const st = (await c.request('phoenix-agent-status')).return.update;
  assert.equal([st.state, st.from, st.to], ['updated', '0.9.0', '0.9.1']);
  await waitFor('a beat saying updated', () => hb.receiver.views()[0]?.payload.update?.state === 'updated', 5000);
  assert.equal(hb.receiver.views()[0].payload.update, { state: 'updated', from: '0.9.0', to: '0.9.1' });
  assert.equal(fs.readdirSync(lib).sort(), ['0.9.0', '0.9.1', 'current', 'update']);
  assert.is(fs.readFileSync(path.join(etc, 'release-keys', `${nextId}.pub`), 'utf8'), fs.readFileSync(path.join(t, 'next.key.pub'), 'utf8'));
  // The node runtime came from A: the release carried none.
  assert.ok(fs.statSync(path.join(lib, '0.9.1/node')).size > 1e6);
  c.close();
});

test('a B whose worker dies at start comes back to the previous version by itself; update-failed with the reason', async () => {
  const b = buildVersion('0.9.2', process.execPath);
  fs.writeFileSync(path.join(b, 'agent.js'), 'process.exit(3);\n');
  const rel = release(b, keyA);
  let c = await QgaClient.connect(sock);
  await upload(c, rel);
  const r = await c.request('phoenix-release-apply', { version: '0.9.2', window: 10 });
  assert.is(r.return.state, 'restarting');
  c.close();
  await waitFor('0.9.2 starting', () => state()?.supervisor.version === '0.9.2', 20_000);
  await waitFor('the updating beat', () => hb.receiver.views()[0]?.payload.update?.state === 'updating', 10_000);
  await running('0.9.1');
  assert.is(current(), '0.9.1');
  c = await waitFor('a connection', () => QgaClient.connect(sock).catch(() => null), 10_000);
  const st = (await c.request('phoenix-agent-status')).return.update;
  assert.equal([st.state, st.from, st.to, st.why], ['update-failed', '0.9.1', '0.9.2', 'not-ready']);
  assert.match(st.reason, /^the worker of 0.9.2 was not ready and up for 5 s within 10 s \(last exit: crash, exit code 3\)$/);
  await waitFor('a beat saying update-failed', () => hb.receiver.views()[0]?.payload.update?.state === 'update-failed', 5000);
  assert.equal(hb.receiver.views()[0].payload.update, { state: 'update-failed', from: '0.9.1', to: '0.9.2', why: 'not-ready' });
  assert.match(fs.readFileSync(path.join(t, 'exits'), 'utf8'), /exit 75\n/);
  c.close();
});

test('a B whose supervisor cannot start comes back after three starts, counted by the launcher', async () => {
  const b = buildVersion('0.9.3', process.execPath);
  const sup = path.join(b, 'supervisor.js');
  // The release tool asks the build for its version; the broken supervisor fails only when run by the launcher.
  fs.writeFileSync(sup, `if (process.argv.includes('--version')) { console.log('phoenix-ga 0.9.3'); } else { throw new Error('broken'); }\n`);
  const rel = release(b, keyA);
  let c = await QgaClient.connect(sock);
  await upload(c, rel);
  assert.is((await c.request('phoenix-release-apply', { version: '0.9.3', window: 10 })).return.state, 'restarting');
  c.close();
  await waitFor('0.9.1 stopped', () => state()?.supervisor.version !== '0.9.1' || state()?.worker.state !== 'ready', 10_000).catch(() => null);
  await running('0.9.1');
  assert.is(current(), '0.9.1');
  c = await waitFor('a connection', () => QgaClient.connect(sock).catch(() => null), 10_000);
  const st = (await c.request('phoenix-agent-status')).return.update;
  assert.equal([st.state, st.to, st.why, st.reason], ['update-failed', '0.9.3', 'supervisor-failed', 'the supervisor of 0.9.3 did not start (3 starts)']);
  assert.is(fs.readFileSync(path.join(t, 'exits'), 'utf8').match(/exit 1\n/g)?.length, 3, 'three failed starts');
  c.close();
});

test('phoenix-ga-ctl update resumes an interrupted upload, applies, and waits for the new version; older versions go', async () => {
  const rel = release(buildVersion('0.9.4', process.execPath), keyA);
  // An upload cut short: part of agent.js is there already.
  const c = await QgaClient.connect(sock);
  const agentJs = fs.readFileSync(path.join(rel, 'agent.js'));
  for (const off of [0, 48 << 10]) assert.is((await c.request('phoenix-release-put', { version: '0.9.4', file: 'agent.js', offset: off, data: agentJs.subarray(off, off + (48 << 10)).toString('base64') })).error, undefined);
  c.close();
  const ctl = spawnSync(process.execPath, [path.join(ROOT, 'dist/phoenix-ga-ctl.js'), '--socket', sock, 'update', '--release', rel, '--window', '20'], { encoding: 'utf8', timeout: 120_000 });
  assert.is(ctl.status, 0, ctl.stderr + ctl.stdout);
  assert.is(ctl.stdout, '0.9.4 runs; the update from 0.9.1 is final\n');
  assert.match(ctl.stderr, /^agent.js: resumed at 98304 of \d+ bytes$/m);
  assert.is(state()!.supervisor.version, '0.9.4');
  // The previous version stays for a rollback; the older and the failed ones are gone.
  assert.equal(fs.readdirSync(lib).sort(), ['0.9.1', '0.9.4', 'current', 'update']);
  // Nothing is left of the uploads.
  assert.equal(fs.readdirSync(path.join(t, 'state/incoming')), []);
});

test('kill -9 at each step: between recording the update and the switch, the old version runs and says the switch did not complete; during the window, the new version still proves itself', async () => {
  // Cut after the pending record, before the switch (as apply writes them).
  const sup = state()!.supervisor.pid;
  fs.writeFileSync(path.join(lib, 'update/pending'), '0.9.9 0.9.4 10\n');
  process.kill(sup, 'SIGKILL');
  await waitFor('a new supervisor', () => state()?.supervisor.pid !== sup && state()?.worker.state === 'ready', 20_000);
  let c = await waitFor('a connection', () => QgaClient.connect(sock).catch(() => null), 10_000);
  const st = (await c.request('phoenix-agent-status')).return;
  assert.equal([st.sup.ver, st.update.state, st.update.reason], ['0.9.4', 'update-failed', 'the switch to 0.9.9 did not complete; 0.9.4 runs']);
  assert.not.ok(fs.existsSync(path.join(lib, 'update/pending')));
  // Killed in the window after the switch: the next start is one more, and the new version proves itself.
  await upload(c, release(buildVersion('0.9.5', process.execPath), keyA));
  assert.is((await c.request('phoenix-release-apply', { version: '0.9.5', window: 20 })).return.state, 'restarting');
  c.close();
  const pending = await waitFor('0.9.5 started', () => { const s = state(); return s?.supervisor.version === '0.9.5' && s.supervisor.pid; }, 20_000);
  process.kill(pending, 'SIGKILL');
  await waitFor('0.9.5 again', () => state()?.supervisor.pid !== pending && state()?.supervisor.version === '0.9.5', 20_000);
  assert.is(fs.readFileSync(path.join(lib, 'update/starts'), 'utf8'), '.\n.\n', 'two starts counted by the launcher');
  c = await waitFor('a connection', () => QgaClient.connect(sock).catch(() => null), 10_000);
  await waitFor('updated', async () => (await c.request('phoenix-agent-status')).return.update?.state === 'updated', 20_000);
  assert.is(current(), '0.9.5');
  assert.equal(fs.readdirSync(lib).sort(), ['0.9.4', '0.9.5', 'current', 'update']);
  c.close();
});

test.run();

// The single-instance lock against a local user: a throwaway unprivileged user (random uid) tries
// every way it has to take the lock before the agent starts (the abstract socket name the agent
// once used, the lock file, the run directory); the agent still starts, and two root supervisors
// still exclude each other. The lock goes with its holder, even killed with SIGKILL.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { startAgent, tempDir, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';

/** The abstract socket name earlier versions locked with: FNV-1a of the run directory. */
function oldLockName(runDir: string): string {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(path.resolve(runDir))) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return `\0phoenix-ga.${h.toString(16).padStart(16, '0')}`;
}

// Runs as the unprivileged user: takes what it can, prints what it got, then holds on.
const SQUATTER = `
const net = require('net'), fs = require('fs');
const [runDir, name] = [process.argv[1], Buffer.from(process.argv[2], 'hex').toString('latin1')];
const got = {};
const s = net.createServer(() => {});
s.on('error', (e) => { got.abstract = e.code; report(); });
s.listen(name, () => { got.abstract = 'held'; report(); });
for (const f of ['lock', 'supervisor.lock', 'run.lock']) {
  try { fs.openSync(runDir + '/' + f, 'a'); got[f] = 'opened'; } catch (e) { got[f] = e.code; }
}
try { fs.mkdirSync(runDir); got.mkdir = 'made'; } catch (e) { got.mkdir = e.code; }
function report() { process.stdout.write(JSON.stringify(got) + '\\n'); }
setInterval(() => {}, 1000);
`;

test('an unprivileged user cannot hold the lock; two root supervisors still exclude each other', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root for useradd (CI is root)');
  const user = `pgalock${crypto.randomBytes(3).toString('hex')}`;
  const uid = 20000 + crypto.randomInt(20000);
  execFileSync('useradd', ['-M', '-u', String(uid), user]);
  // The run directory's parent is searchable by everyone, as /run is.
  const dir = tempDir();
  fs.chmodSync(dir, 0o755);
  const runDir = path.join(dir, 'run');
  const squatter = spawn('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, '-e', SQUATTER, runDir, Buffer.from(oldLockName(runDir), 'latin1').toString('hex')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let said = '';
  squatter.stdout!.on('data', (d) => { said += d; });
  const agents: Array<ReturnType<typeof startAgent>> = [];
  try {
    await waitFor('the squatter reports', () => said.includes('\n'), 5000);
    const got = JSON.parse(said);
    assert.is(got.abstract, 'held', 'the user took the old abstract name before the agent started');
    const a = startAgent({ dir, interval: 0.2 });
    agents.push(a);
    const exit = await Promise.race([a.waitReady(5000).then(() => null), new Promise((r) => a.proc.once('exit', (code) => r(code)))]);
    assert.is(exit, null, `the agent started despite the user (it exited ${exit}): ${a.output().slice(-400)}`);
    const c = await QgaClient.connect(a.sock);
    assert.equal((await c.request('guest-ping')).return, {});
    c.close();
    // A second root supervisor for the same run directory is refused with 100 and says who holds it.
    const b = startAgent({ dir, interval: 0.2 });
    agents.push(b);
    assert.is(await new Promise((r) => b.proc.once('exit', (code) => r(code))), 100);
    assert.match(b.output(), new RegExp(`another phoenix-ga supervisor \\(pid ${a.proc.pid}\\) is already running`));
    // The lock goes with its holder, even by SIGKILL: the next supervisor starts at once.
    a.proc.kill('SIGKILL');
    await new Promise((r) => a.proc.once('exit', r));
    const d = startAgent({ dir, interval: 0.2 });
    agents.push(d);
    await d.waitReady(5000);
    // The lock file is root's, in the root-only run directory, and no link.
    const lockFile = path.join(runDir, 'lock');
    const st = fs.lstatSync(lockFile);
    assert.ok(st.isFile() && st.uid === 0 && (st.mode & 0o077) === 0, `lock file ${st.mode.toString(8)} uid ${st.uid}`);
  } finally {
    squatter.kill('SIGKILL');
    for (const a of agents) await a.stop();
    try { execFileSync('userdel', [user], { stdio: 'ignore' }); } catch { /* gone */ }
  }
});

test('a lock file replaced by a link or another owner is refused, not followed', async () => {
  const dir = tempDir();
  const runDir = path.join(dir, 'run');
  fs.mkdirSync(runDir, { mode: 0o700 });
  fs.symlinkSync('/etc/passwd', path.join(runDir, 'lock'));
  const a = startAgent({ dir, interval: 0.2 });
  const code = await Promise.race([new Promise((r) => a.proc.once('exit', (c) => r(c))), new Promise((r) => setTimeout(() => r('still running'), 3000))]);
  await a.stop();
  assert.is(code, 111, `exit ${code}: ${a.output().slice(-300)}`);
  assert.match(a.output(), /lock.*(symbolic link|ELOOP)/);
  assert.ok(fs.lstatSync(path.join(runDir, 'lock')).isSymbolicLink(), 'left as it was');
});

test.run();

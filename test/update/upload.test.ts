// A release uploaded over the channel in chunks into the agent's staging directory: resumable after
// a worker restart (the status says what is there), bounded per chunk, names from the fixed set
// only, and never written through a link planted in the staging directory.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { startAgent } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { ROOT } from '../helpers/agent';
import { scratchDir } from '../helpers/versions';

const dir = scratchDir('pga-upload-');
const tool = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'build/release.mjs'), ...args], { encoding: 'utf8' });
tool('keygen', '--out', path.join(dir, 'k'));
tool('--key', path.join(dir, 'k'), '--out', path.join(dir, 'rel'));
const V = JSON.parse(fs.readFileSync(path.join(dir, 'rel/manifest.json'), 'utf8')).version as string;
const CHUNK = 48 << 10;

async function put(c: QgaClient, file: string, from: number, to: number, sha = false): Promise<any> {
  const bytes = fs.readFileSync(path.join(dir, 'rel', file));
  let r: any = null;
  for (let off = from; off < to; off += CHUNK) {
    const end = Math.min(to, off + CHUNK);
    const last = sha && end === bytes.length;
    r = await c.request('phoenix-release-put', { version: V, file, offset: off, data: bytes.subarray(off, end).toString('base64'), ...(last ? { sha256: crypto.createHash('sha256').update(bytes).digest('hex') } : {}) });
    if (r.error) return r;
  }
  return r;
}

test('an upload resumes after the worker is killed, from the sizes the status reports, and ends complete and byte-exact', async () => {
  const a = startAgent();
  try {
    await a.waitReady();
    let c = await QgaClient.connect(a.sock);
    for (const f of ['manifest.json', 'manifest.sig']) assert.is((await put(c, f, 0, fs.statSync(path.join(dir, 'rel', f)).size)).error, undefined);
    const agentSize = fs.statSync(path.join(dir, 'rel/agent.js')).size;
    assert.equal((await put(c, 'agent.js', 0, 2 * CHUNK)).return, { version: V, file: 'agent.js', size: 2 * CHUNK });
    const wpid = a.workerPid()!;
    process.kill(wpid, 'SIGKILL');
    await a.waitFor('a new worker', () => a.state()?.worker.state === 'ready' && a.workerPid() !== wpid, 10000);
    c = await QgaClient.connect(a.sock);
    const st = (await c.request('phoenix-release-status', { version: V })).return;
    assert.equal(st.files.find((f: any) => f.file === 'agent.js'), { file: 'agent.js', size: 2 * CHUNK, expected: agentSize });
    assert.is(st.complete, false);
    // A gap is refused with where to resume.
    const gap = await put(c, 'agent.js', 3 * CHUNK, 4 * CHUNK);
    assert.is(gap.error.desc, `Parameter 'offset' is ${3 * CHUNK}, past the ${2 * CHUNK} bytes of agent.js present; resume at ${2 * CHUNK}`);
    assert.is((await put(c, 'agent.js', 2 * CHUNK, agentSize, true)).error, undefined);
    for (const f of ['supervisor.js', 'agent-rare.js', 'ctl.js', 'init/phoenix-ga.sh', 'init/etc/phoenix-ga.conf', 'init/systemd/phoenix-ga.service', 'init/sysvinit/inittab.block', 'init/upstart/phoenix-ga.conf']) {
      assert.is((await put(c, f, 0, fs.statSync(path.join(dir, 'rel', f)).size, true)).error, undefined, f);
    }
    const done = (await c.request('phoenix-release-status', { version: V })).return;
    assert.is(done.complete, true);
    const staged = path.join(a.dir, 'state/incoming', V);
    assert.ok(fs.readFileSync(path.join(staged, 'agent.js')).equals(fs.readFileSync(path.join(dir, 'rel/agent.js'))));
    assert.is(fs.statSync(path.join(a.dir, 'state/incoming')).mode & 0o777, 0o700);
    // A wrong sha256 names both.
    const wrong = await c.request('phoenix-release-put', { version: V, file: 'ctl.js', offset: 0, data: 'aGVsbG8=', sha256: '0'.repeat(64) });
    assert.match(wrong.error.desc, /^ctl.js of .* has sha256 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 with 5 bytes, not 0{64}; upload it again from offset 0$/);
    c.close();
  } finally {
    await a.stop();
  }
});

test('bad names, versions and sizes are refused before anything is written; a link in the staging directory is not followed', async () => {
  const a = startAgent();
  try {
    await a.waitReady();
    const c = await QgaClient.connect(a.sock);
    const req = (args: Record<string, unknown>) => c.request('phoenix-release-put', { version: '1.2.3', file: 'agent.js', offset: 0, data: '', ...args }).then((r: any) => r.error?.desc);
    assert.match(await req({ file: '../../etc/shadow' }), /^Parameter 'file' must be one of manifest.json, manifest.sig, supervisor.js/);
    assert.match(await req({ version: '../x' }), /^Parameter 'version' expected MAJOR.MINOR.PATCH\[-PRE\], got '..\/x'/);
    assert.match(await req({ data: Buffer.alloc(CHUNK + 1).toString('base64') }), new RegExp(`holds ${CHUNK + 1} bytes; at most ${CHUNK} per chunk`));
    assert.not.ok(fs.existsSync(path.join(a.dir, 'state/incoming/1.2.3')));
    // Someone replaced the upload directory with a link to another directory: refused, nothing written there.
    const elsewhere = scratchDir('pga-elsewhere-');
    assert.is(await req({}), undefined);
    fs.rmSync(path.join(a.dir, 'state/incoming/1.2.3'), { recursive: true });
    fs.symlinkSync(elsewhere, path.join(a.dir, 'state/incoming/1.2.3'));
    assert.match(await req({ data: 'aGVsbG8=' }), /incoming\/1.2.3 is not a directory \(a link\?\); refusing to use it/);
    assert.equal(fs.readdirSync(elsewhere), []);
    c.close();
  } finally {
    await a.stop();
  }
});

test('updates = off in the config file: uploads and apply are refused, saying so, and get-config and the status report it', async () => {
  const cdir = scratchDir('pga-upd-off-');
  const conf = path.join(cdir, 'phoenix-ga.conf');
  fs.writeFileSync(conf, 'updates = off\n', { mode: 0o600 });
  const a = startAgent({ args: ['--config', conf] });
  try {
    await a.waitReady();
    const c = await QgaClient.connect(a.sock);
    const why = `updates over the channel are off in this server's configuration (updates = off in ${conf})`;
    assert.is((await c.request('phoenix-release-put', { version: '1.2.3', file: 'agent.js', offset: 0, data: 'aGVsbG8=' })).error.desc, why);
    assert.is((await c.request('phoenix-release-apply', { version: '1.2.3' })).error.desc, why);
    assert.not.ok(fs.existsSync(path.join(a.dir, 'state/incoming')));
    assert.is((await c.request('phoenix-release-status', { version: '1.2.3' })).return.updates, 'off');
    assert.equal((await c.request('phoenix-get-config')).return.keys.updates, { value: 'off', from: 'file', where: `${conf}:1` });
    c.close();
  } finally {
    await a.stop();
  }
});

test.run();

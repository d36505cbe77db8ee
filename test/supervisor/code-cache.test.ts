// The worker's V8 code cache (supervisor/code-cache.ts): written once after the first start, used
// at the next, and never used when it belongs to another build, is corrupt, is not a regular file
// of ours, or cannot be written (the start works regardless). A cache V8 accepts but cannot run
// (damaged on disk past its header) costs one worker death: the next start sets it aside.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { CODE_CACHE_WRITE_DELAY_MS, codeCacheFile, codeCacheLoaderSource, frozenRecordFile } from '../../supervisor/code-cache';
import { startAgent, tempDir } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';

/** A stand-in bundle: says which build ran and where, and lives until the cache is written. */
function bundle(dir: string, name: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const f = path.join(dir, 'agent.js');
  const fns = Array.from({ length: 50 }, (_, i) => `function f${i}(x){return x*${i}+${i}}`).join('\n');
  fs.writeFileSync(f, `#!/usr/bin/env node\n${fns}\nlet s=0;for(let i=0;i<50;i++)s+=eval('f'+i)(i);\nprocess.stderr.write('ran ${name} in '+__dirname+' '+require('path').basename(process.argv[1])+' '+s+'\\n');\nsetTimeout(()=>{}, ${CODE_CACHE_WRITE_DELAY_MS + 600});\n`);
  return f;
}

/** Runs F in a fresh temporary directory, removed afterwards. */
function inTempDir(f: (dir: string) => void): void {
  const dir = tempDir('pga-cc-');
  try { f(dir); } finally { fs.rmSync(dir, { recursive: true, force: true }); }
}

/** Starts the bundle through the loader as the supervisor does; its stderr. */
function run(agent: string, stateDir: string, runDir = stateDir, setAside: string[] = []): string {
  const r = spawnSync(process.execPath, ['--max-semi-space-size=1', '-e', codeCacheLoaderSource(), agent, codeCacheFile(stateDir, agent), frozenRecordFile(runDir), ...setAside], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  return r.stderr;
}

test('no write while the supervisor records frozen file systems (it would block the worker): written once they are thawed', () => inTempDir((dir) => {
  const agent = bundle(path.join(dir, 'v1'), 'v1');
  const run1 = path.join(dir, 'run');
  fs.mkdirSync(run1);
  fs.writeFileSync(frozenRecordFile(run1), '{"mounts":["/"]}');
  const frozen = run(agent, dir, run1);
  assert.match(frozen, /ran v1/);
  assert.not.match(frozen, /code cache/);
  assert.not.ok(fs.existsSync(codeCacheFile(dir, agent)), 'nothing written while frozen');
  fs.rmSync(frozenRecordFile(run1));
  assert.match(run(agent, dir, run1), /code cache written .*previous: none/);
  assert.ok(fs.existsSync(codeCacheFile(dir, agent)));
}));

test('the first start writes the cache (0600, keyed); the next uses it and does not rewrite it', () => inTempDir((dir) => {
  const agent = bundle(path.join(dir, 'v1'), 'v1');
  const first = run(agent, dir);
  assert.match(first, /ran v1 .* agent\.js 41650/);
  assert.match(first, /code cache written .*previous: none/);
  const file = codeCacheFile(dir, agent);
  const st = fs.lstatSync(file);
  assert.is(st.mode & 0o777, 0o600);
  assert.match(fs.readFileSync(file, 'latin1').split('\n')[0], new RegExp(`^phoenix-ga v8 cache 1 .* ${process.version} --max-semi-space-size=1$`));
  const second = run(agent, dir);
  assert.match(second, /ran v1/);
  assert.not.match(second, /code cache/);
  assert.is(fs.lstatSync(file).ino, st.ino, 'not rewritten');
}));

test('an update (another bundle of the same length behind `current`) never uses the old cache', () => inTempDir((dir) => {
  bundle(path.join(dir, 'v1'), 'v1');
  bundle(path.join(dir, 'v2'), 'v2');
  const current = path.join(dir, 'current');
  fs.symlinkSync('v1', current);
  const agent = path.join(current, 'agent.js');
  assert.match(run(agent, dir), /ran v1 in .*\/v1 /);
  fs.unlinkSync(current);
  fs.symlinkSync('v2', current);
  const out = run(agent, dir);
  assert.match(out, /ran v2 in .*\/v2 /);
  assert.match(out, /code cache written .*previous: of another build/);
  // The same file rebuilt in place (same length, new mtime): the old cache is not used either.
  const f = path.join(dir, 'v2', 'agent.js');
  fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('ran v2', 'ran v3'));
  assert.match(run(agent, dir), /ran v3[^]*previous: of another build/);
}));

test('a corrupt cache is rejected, the start works and the cache is rewritten', () => inTempDir((dir) => {
  const agent = bundle(path.join(dir, 'v1'), 'v1');
  run(agent, dir);
  const file = codeCacheFile(dir, agent);
  const b = fs.readFileSync(file);
  const key = b.indexOf(10) + 1;
  b.fill(0x5a, key + 8, key + 4000);
  fs.writeFileSync(file, b);
  assert.match(run(agent, dir), /ran v1[^]*code cache written .*previous: rejected by V8/);
  fs.writeFileSync(file, 'garbage');
  assert.match(run(agent, dir), /ran v1[^]*previous: of another build/);
}));

test('a cache set aside by the supervisor is not read, and is rewritten', () => inTempDir((dir) => {
  const agent = bundle(path.join(dir, 'v1'), 'v1');
  run(agent, dir);
  const file = codeCacheFile(dir, agent);
  const good = fs.readFileSync(file);
  assert.not.match(run(agent, dir), /code cache/, 'a good cache is used and kept');
  // Unreadable if it were read: the loader must not even open it.
  fs.chmodSync(file, 0);
  fs.chownSync(file, 65534, 65534);
  const out = run(agent, dir, dir, ['set aside after worker 7 died of signal SIGSEGV']);
  assert.match(out, /ran v1[^]*code cache written .*previous: set aside after worker 7 died of signal SIGSEGV\)/);
  assert.is(fs.statSync(file).uid, process.getuid!());
  assert.equal(fs.readFileSync(file).subarray(0, good.indexOf(10)), good.subarray(0, good.indexOf(10)), 'the same key');
}));

test('a symlink or a file of another user is not read; it is replaced, not written through', () => inTempDir((dir) => {
  const agent = bundle(path.join(dir, 'v1'), 'v1');
  run(agent, dir);
  const file = codeCacheFile(dir, agent);
  const planted = path.join(dir, 'planted');
  fs.renameSync(file, planted);
  fs.symlinkSync(planted, file);
  assert.match(run(agent, dir), /ran v1[^]*code cache written .*previous: none/);
  assert.ok(fs.lstatSync(file).isFile(), 'the symlink was replaced');
  fs.chownSync(file, 65534, 65534);
  assert.match(run(agent, dir), /ran v1[^]*code cache written .*previous: not a regular file of ours/);
  assert.is(fs.lstatSync(file).uid, process.getuid!());
}));

test('a state directory that cannot be written: the start works, one line says why', () => inTempDir((dir) => {
  const agent = bundle(path.join(dir, 'v1'), 'v1');
  // Root writes through a read-only mode, so an unwritable place is a path below a regular file.
  fs.writeFileSync(path.join(dir, 'file'), '');
  const out = run(agent, path.join(dir, 'file'));
  assert.match(out, /ran v1/);
  assert.equal(out.split('\n').filter((l) => l.includes('code cache')).length, 1);
  assert.match(out, /warn: code cache not written .*ENOTDIR/);
}));

test('the supervisor starts its worker through the cache: the file appears in the state directory', async () => {
  const agent = startAgent({ testCommands: true });
  try {
    await agent.waitReady();
    const file = path.join(agent.dir, 'state', 'agent-test.js.v8-cache');
    await agent.waitFor('the code cache', () => fs.existsSync(file), CODE_CACHE_WRITE_DELAY_MS + 10_000);
    assert.ok(fs.statSync(file).size > 100_000);
  } finally { await agent.stop(); }
});

test('a cache damaged past its header (V8 accepts it, then dies in it): one worker death, then served and rewritten', async () => {
  const first = startAgent({ testCommands: true });
  const file = path.join(first.dir, 'state', 'agent-test.js.v8-cache');
  try {
    await first.waitReady();
    await first.waitFor('the code cache', () => fs.existsSync(file), CODE_CACHE_WRITE_DELAY_MS + 10_000);
  } finally { await first.stop(); }
  const b = fs.readFileSync(file);
  // Past our key line and V8's header (its hashes and lengths): the serialized objects themselves.
  const data = b.indexOf(10) + 1;
  for (let i = data + 64; i < data + 4000; i++) b[i] ^= 0x5a;
  fs.writeFileSync(file, b);
  const again = startAgent({ testCommands: true, dir: first.dir });
  try {
    await again.waitReady(15_000);
    const c = await QgaClient.connect(again.sock);
    try { assert.equal(await c.request('guest-ping'), { return: {} }); } finally { c.close(); }
    await again.waitFor('the cache rewritten', () => /code cache written/.test(again.output()), CODE_CACHE_WRITE_DELAY_MS + 10_000);
    const out = again.output();
    const died = out.match(/worker (\d+) \(generation \d+\) died: \w+ \((signal SIG[A-Z]+|exit code \d+)\)/g) ?? [];
    assert.is(died.length, 1, `one death, of the damaged cache:\n${out.slice(-3000)}`);
    assert.match(out, /code cache written .*previous: set aside after worker \d+ died of (signal SIG(SEGV|TRAP|BUS|ILL|ABRT)|exit code \d+)\)/);
    assert.not.equal(fs.readFileSync(file), b, 'the damaged cache was replaced');
  } finally { await again.stop(); }
  // The rewritten cache is good: the next start uses it, without a death or a rewrite.
  const third = startAgent({ testCommands: true, dir: first.dir });
  try {
    await third.waitReady();
    await new Promise((r) => setTimeout(r, CODE_CACHE_WRITE_DELAY_MS + 500));
    assert.not.match(third.output(), /died|code cache/);
  } finally { await third.stop(); }
  fs.rmSync(first.dir, { recursive: true, force: true });
});

test.run();

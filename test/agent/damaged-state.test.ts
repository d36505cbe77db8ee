// Files of the state and run directories damaged on disk (or replaced by a FIFO): the worker
// starts and serves, says what it set aside, and never writes into the damage. Each of these made
// every worker start die (a crash loop that never served), hung it, or wrote zeros into the journal.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { openJournalFile } from '../../agent/journal/journal-file';
import { readJsonFile, readPrivateFile } from '../../supervisor/atomic-file';
import { codeCacheFile, codeCacheLoaderSource, frozenRecordFile } from '../../supervisor/code-cache';
import { startAgent, tempDir } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';

/** Starts an agent on DIR, waits for ready, runs F with a client; asserts no worker died meanwhile. */
async function serving(dir: string, f: (c: QgaClient, output: () => string) => Promise<void>): Promise<string> {
  const agent = startAgent({ dir, interval: 1 });
  try {
    await agent.waitReady(10_000);
    const c = await QgaClient.connect(agent.sock);
    try {
      assert.equal(await c.request('guest-ping'), { return: {} });
      await f(c, agent.output);
    } finally { c.close(); }
    assert.not.match(agent.output(), /died/, 'no worker death');
    return agent.output();
  } finally { await agent.stop(); }
}

const TXN_DAMAGE: Array<[string, (file: string) => void]> = [
  ['empty', (f) => fs.writeFileSync(f, '')],
  ['cut in the middle', (f) => fs.writeFileSync(f, '{"pending":null,"history":[{"id":"a","inter')],
  ['null', (f) => fs.writeFileSync(f, 'null\n')],
  ['a FIFO', (f) => execFileSync('mkfifo', ['-m', '600', f])],
];

for (const [what, damage] of TXN_DAMAGE) {
  test(`network/transactions.json ${what}: set aside and said, the worker serves network status`, async () => {
    const dir = tempDir('pga-dmg-');
    const file = path.join(dir, 'state', 'network', 'transactions.json');
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    damage(file);
    const out = await serving(dir, async (c) => {
      const r = await c.request('phoenix-network-status', {}, 10_000);
      assert.ok(r.return, JSON.stringify(r));
    });
    assert.match(out, /transactions\.json cannot be read \([^)]+\): moved to .*transactions\.json\.damaged-\d+; a change pending in it is neither confirmed nor reverted/);
    assert.not.ok(fs.existsSync(file), 'the damaged file is no longer in the way');
    assert.is(fs.readdirSync(path.dirname(file)).filter((n) => n.startsWith('transactions.json.damaged-')).length, 1);
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

test('run/stats-config.json: null or out of range is not taken; the defaults are (no crash, no busy loop)', async () => {
  for (const text of ['null', '{"intervalMs":0,"capacity":1}', '{"intervalMs":"60000","capacity":-5}', '[1,2]']) {
    const dir = tempDir('pga-dmg-');
    fs.mkdirSync(path.join(dir, 'run'), { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(dir, 'run', 'stats-config.json'), text);
    await serving(dir, async (c) => {
      const r = (await c.request('phoenix-get-stats', { max: 10 })).return;
      assert.is(r.interval_ms, 60_000, text);
      assert.is(r.history.capacity, 720, text);
    });
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // A valid one is still taken.
  const dir = tempDir('pga-dmg-');
  fs.mkdirSync(path.join(dir, 'run'), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'run', 'stats-config.json'), '{"intervalMs":5000,"capacity":50}');
  await serving(dir, async (c) => {
    const r = (await c.request('phoenix-get-stats', { max: 10 })).return;
    assert.is(r.interval_ms, 5000);
    assert.is(r.history.capacity, 50);
  });
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a journal with damaged bytes mid-file: the next record goes right after the last whole line, with no zeros', () => {
  const dir = tempDir('pga-dmg-');
  const file = path.join(dir, 'journal.jsonl');
  const rec = (k: string): string => JSON.stringify({ key: k, step: 'done', at: 'x' });
  // Four bytes that are not UTF-8 (each decodes to three) inside the first record; a cut tail.
  fs.writeFileSync(file, Buffer.concat([Buffer.from(`${rec('a').slice(0, 10)}`), Buffer.from([0xff, 0xfe, 0xff, 0xfe]), Buffer.from(`${rec('a').slice(10)}\n${rec('b')}\n{"key":"c","st`)]));
  const whole = fs.readFileSync(file).lastIndexOf(0x0a) + 1;
  const j = openJournalFile(dir, () => undefined);
  assert.is(j.lines.length, 2);
  j.append(rec('d'));
  const after = fs.readFileSync(file);
  assert.is(after.indexOf(0), -1, 'no zero bytes');
  assert.is(after.length, whole + rec('d').length + 1);
  assert.is(after.subarray(whole).toString(), `${rec('d')}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a journal that is a FIFO: the journal is unusable and says why; opening does not hang', () => {
  const dir = tempDir('pga-dmg-');
  execFileSync('mkfifo', ['-m', '600', path.join(dir, 'journal.jsonl')]);
  const j = openJournalFile(dir, () => undefined);
  assert.is(j.lines.length, 0);
  assert.match(j.ready()?.reason ?? '', /not a regular file/);
  fs.rmSync(dir, { recursive: true, force: true });
});

// Where a FIFO or a symlink to /dev/zero stood in for one of the agent's own files, the supervisor
// hung before it listened (state.json, frozen.json, the log), or the worker hung or read /dev/zero
// to over 1 GB at every start (stats-config.json, identity.json, the journal's reserve).
const PLANTED: Array<[string, string, 'fifo' | 'zero']> = [
  // (run/state.json is read through the same readJsonFile, below; the test helper reads it too.)
  ['run/frozen.json', 'the supervisor', 'fifo'],
  ['run/frozen.json', 'the supervisor', 'zero'],
  ['run/stats-config.json', 'the worker', 'fifo'],
  ['run/stats-config.json', 'the worker', 'zero'],
  ['state/identity.json', 'the worker', 'fifo'],
  ['state/identity.json', 'the worker', 'zero'],
  ['state/journal/reserve', 'the worker', 'fifo'],
];

for (const [rel, whose, kind] of PLANTED) {
  test(`${rel} replaced by ${kind === 'fifo' ? 'a FIFO' : 'a symlink to /dev/zero'}: ${whose} neither hangs nor reads it, and serves`, async () => {
    const dir = tempDir('pga-dmg-');
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    if (kind === 'fifo') execFileSync('mkfifo', ['-m', '600', file]); else fs.symlinkSync('/dev/zero', file);
    await serving(dir, async (c) => {
      assert.ok((await c.request('phoenix-get-stats', { max: 1 })).return, 'statistics served');
      const pid = JSON.parse(fs.readFileSync(path.join(dir, 'run', 'state.json'), 'utf8')).worker.pid as number;
      const rss = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
      assert.ok(rss < 200, `worker RSS ${rss.toFixed(0)} MiB`);
    });
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

test('readPrivateFile and readJsonFile: a FIFO, a symlink or a file over the cap is refused at once, never read', () => {
  const dir = tempDir('pga-dmg-');
  const f = (n: string): string => path.join(dir, n);
  fs.writeFileSync(f('ok.json'), '{"a":1}');
  execFileSync('mkfifo', ['-m', '600', f('fifo')]);
  fs.symlinkSync('/dev/zero', f('zero'));
  fs.symlinkSync(f('ok.json'), f('link.json'));
  fs.writeFileSync(f('big'), '');
  fs.truncateSync(f('big'), 2 << 20);
  assert.equal(readJsonFile(f('ok.json')), { a: 1 });
  for (const n of ['fifo', 'zero', 'link.json', 'big', 'absent']) assert.is(readJsonFile(f(n)), null, n);
  assert.throws(() => readPrivateFile(f('fifo')), /not a regular file/);
  assert.throws(() => readPrivateFile(f('zero')), /ELOOP/);
  assert.throws(() => readPrivateFile(f('zero'), 1 << 20, true), /not a regular file/);
  assert.throws(() => readPrivateFile(f('big')), /2097152 bytes/);
  assert.is(readPrivateFile(f('link.json'), 100, true), '{"a":1}');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a log file that is a FIFO without a reader: the supervisor starts and serves (its lines are dropped)', async () => {
  const dir = tempDir('pga-dmg-');
  execFileSync('mkfifo', ['-m', '600', path.join(dir, 'log')]);
  const agent = startAgent({ dir, args: ['--log-file', path.join(dir, 'log')] });
  try {
    await agent.waitReady(10_000);
    const c = await QgaClient.connect(agent.sock);
    try { assert.equal(await c.request('guest-ping'), { return: {} }); } finally { c.close(); }
  } finally {
    const end = await Promise.race([agent.stop(), new Promise((r) => setTimeout(() => r('hung'), 10_000))]);
    assert.is.not(end, 'hung', 'stops on SIGTERM');
    agent.proc.kill('SIGKILL');
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a code cache file of 200 MB is not read (it was read whole and kept by the worker), and is replaced', () => {
  const dir = tempDir('pga-dmg-');
  const agent = path.join(dir, 'agent.js');
  fs.writeFileSync(agent, 'setTimeout(() => {}, 2600);\n');
  const cache = codeCacheFile(dir, agent);
  fs.writeFileSync(cache, '');
  fs.truncateSync(cache, 200 << 20);
  const r = spawnSync(process.execPath, ['-e', codeCacheLoaderSource(), agent, cache, frozenRecordFile(dir)], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /code cache written .*previous: 209715200 bytes\)/);
  assert.ok(fs.statSync(cache).size < 1 << 20);
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();

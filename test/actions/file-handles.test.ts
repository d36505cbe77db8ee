// guest-file-* on the real agent: blocked in the shipped defaults, handles that die with the worker
// and say so after a restart (never reused), the bound on open handles, symbolic links refused for
// writing (a final link and a directory link on the way), contents never in a log or the journal.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { MAX_HANDLES } from '../../agent/actions/file-handles';
import { Agent, startAgent, tempDir } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';

const S = suite<{ agent: Agent; c: QgaClient; dir: string }>('guest-file-* on the agent');

S.before(async (ctx) => {
  ctx.dir = tempDir('fh-');
  ctx.agent = startAgent({ interval: 0.5, hangTimeout: 10, args: ['--block-rpcs', ''] });
  await ctx.agent.waitReady();
  ctx.c = await QgaClient.connect(ctx.agent.sock);
});
S.after(async (ctx) => { ctx.c.close(); await ctx.agent.stop(); });

const open = async (c: QgaClient, p: string, mode = 'r') => c.request('guest-file-open', { path: p, mode });

S('blocked by default, all six: CommandNotFound "has been disabled"', async () => {
  const agent = startAgent({ interval: 0.5 });
  try {
    await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    for (const name of ['guest-file-open', 'guest-file-close', 'guest-file-read', 'guest-file-write', 'guest-file-seek', 'guest-file-flush']) {
      assert.equal((await c.request(name, {})).error, { class: 'CommandNotFound', desc: `Command ${name} has been disabled` });
    }
    const info = (await c.request('guest-info')).return.supported_commands as Array<{ name: string; enabled: boolean }>;
    assert.equal(info.filter((x) => x.name.startsWith('guest-file-')).map((x) => x.enabled), [false, false, false, false, false, false]);
    c.close();
  } finally {
    await agent.stop();
  }
});

S('a handle dies with the worker and says so after the restart; numbers are never reused', async (ctx) => {
  const file = path.join(ctx.dir, 'restart');
  fs.writeFileSync(file, 'abc');
  const h = (await open(ctx.c, file)).return;
  const old = ctx.agent.workerPid()!;
  process.kill(old, 'SIGKILL');
  await ctx.agent.waitFor('new worker', () => { const p = ctx.agent.workerPid(); return p && p !== old && ctx.agent.state()?.worker.state === 'ready'; }, 10_000);
  const c = await QgaClient.connect(ctx.agent.sock);
  for (const [cmd, args] of [['guest-file-read', { handle: h }], ['guest-file-close', { handle: h }], ['guest-file-seek', { handle: h, offset: 0, whence: 'set' }]] as const) {
    const r = await c.request(cmd, args);
    assert.equal(r.error, { class: 'GenericError', desc: `handle '${h}' belonged to an earlier run of the agent, which has restarted since; its file was closed then: open the file again` }, cmd);
  }
  const next = (await open(c, file)).return;
  assert.is(next, h + 1);
  assert.equal((await c.request('guest-file-read', { handle: next + 5 })).error.desc, `handle '${next + 5}' has not been found`);
  await c.request('guest-file-close', { handle: next });
  assert.equal((await c.request('guest-file-close', { handle: next })).error.desc, `handle '${next}' has not been found`);
  assert.match(fs.readFileSync(path.join(ctx.agent.dir, 'state/file-handles'), 'utf8'), new RegExp(`^next=${next + 1}$`, 'm'));
  ctx.c.close();
  ctx.c = c;
});

S(`at most ${MAX_HANDLES} open handles; closing one makes room`, async (ctx) => {
  const file = path.join(ctx.dir, 'many');
  fs.writeFileSync(file, '');
  const handles: number[] = [];
  for (let i = 0; i < MAX_HANDLES; i++) handles.push((await open(ctx.c, file)).return);
  assert.ok(handles.every((h) => typeof h === 'number'));
  assert.equal((await open(ctx.c, file)).error, { class: 'GenericError', desc: `too many open file handles (at most ${MAX_HANDLES}): close one with guest-file-close first` });
  await ctx.c.request('guest-file-close', { handle: handles.pop() });
  handles.push((await open(ctx.c, file)).return);
  for (const h of handles) assert.equal(await ctx.c.request('guest-file-close', { handle: h }), { return: {} });
});

S('writing never goes through a symbolic link: not a final one, not a directory on the way; nothing is created or truncated', async (ctx) => {
  const secret = path.join(ctx.dir, 'secret'), elsewhere = path.join(ctx.dir, 'elsewhere'), user = path.join(ctx.dir, 'user');
  fs.writeFileSync(secret, 'root only\n');
  fs.mkdirSync(elsewhere);
  fs.mkdirSync(user);
  fs.symlinkSync(secret, path.join(user, 'notes'));
  fs.symlinkSync(elsewhere, path.join(user, 'dir'));
  for (const mode of ['w', 'a', 'r+', 'w+', 'a+']) {
    const r = await open(ctx.c, path.join(user, 'notes'), mode);
    assert.equal(r.error?.desc, `failed to open file '${path.join(user, 'notes')}' (mode: '${mode}'): it is a symbolic link; give the real path`, mode);
  }
  for (const mode of ['w', 'a']) {
    const target = path.join(user, 'dir', 'new');
    const r = await open(ctx.c, target, mode);
    assert.equal(r.error?.desc, `failed to open file '${target}' (mode: '${mode}'): the path goes through a symbolic link (to '${path.join(elsewhere, 'new')}'); give the real path`, mode);
  }
  assert.is(fs.readFileSync(secret, 'utf8'), 'root only\n');
  assert.equal(fs.readdirSync(elsewhere), [], 'no file left behind in the link target');
});

S('contents never reach the log, the journal or the state directory', async (ctx) => {
  const canary = `canary-${crypto.randomBytes(12).toString('hex')}`;
  const file = path.join(ctx.dir, 'canary');
  const h = (await open(ctx.c, file, 'w+')).return;
  assert.equal((await ctx.c.request('guest-file-write', { handle: h, 'buf-b64': Buffer.from(canary).toString('base64') })).return, { count: canary.length, eof: false });
  await ctx.c.request('guest-file-seek', { handle: h, offset: 0, whence: 'set' });
  assert.is(Buffer.from((await ctx.c.request('guest-file-read', { handle: h })).return['buf-b64'], 'base64').toString(), canary);
  await ctx.c.request('guest-file-write', { handle: h, 'buf-b64': 'not base64!' });
  await ctx.c.request('guest-file-close', { handle: h });
  const everything = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? everything(p) : e.isFile() ? [p] : [];
  });
  const files = everything(ctx.agent.dir);
  assert.ok(files.some((f) => f.includes('journal')) || files.length > 2, 'the agent directory has files to look at');
  for (const f of files) {
    const text = fs.readFileSync(f);
    assert.not.ok(text.includes(canary) || text.includes(Buffer.from(canary).toString('base64')), f);
  }
  assert.not.ok(ctx.agent.output().includes(canary));
});

S('a 48 MiB file read with count 48 MiB: 4 MiB replies until eof, the bytes whole, the worker alive (64 MB heap)', async (ctx) => {
  const data = crypto.randomBytes(48 << 20);
  const file = path.join(ctx.dir, 'big');
  fs.writeFileSync(file, data);
  const pid = ctx.agent.workerPid();
  const h = (await open(ctx.c, file)).return;
  const hash = crypto.createHash('sha256');
  let replies = 0;
  for (;;) {
    const r = (await ctx.c.request('guest-file-read', { handle: h, count: 48 << 20 }, 20_000)).return;
    hash.update(Buffer.from(r['buf-b64'], 'base64'));
    replies++;
    assert.ok(r.count <= 4 << 20);
    if (r.eof) break;
  }
  await ctx.c.request('guest-file-close', { handle: h });
  assert.is(hash.digest('hex'), crypto.createHash('sha256').update(data).digest('hex'));
  assert.is(replies, 13, '12 full replies, then the one that finds the end');
  assert.is(ctx.agent.workerPid(), pid, 'the same worker');
  fs.rmSync(file);
});

S('a FIFO with a writer that sent nothing: an immediate error, not a hung agent', async (ctx) => {
  const fifo = path.join(ctx.dir, 'fifo');
  require('child_process').execFileSync('mkfifo', [fifo]);
  const writer = fs.openSync(fifo, fs.constants.O_RDWR);
  try {
    const h = (await open(ctx.c, fifo)).return;
    assert.equal((await ctx.c.request('guest-file-read', { handle: h })).error.desc, 'failed to read file: Resource temporarily unavailable');
    fs.writeSync(writer, 'late');
    assert.equal((await ctx.c.request('guest-file-read', { handle: h })).return, { count: 4, 'buf-b64': Buffer.from('late').toString('base64'), eof: false });
    assert.equal((await ctx.c.request('guest-file-seek', { handle: h, offset: 0, whence: 'set' })).error.desc, 'failed to seek file: Illegal seek');
    await ctx.c.request('guest-file-close', { handle: h });
    assert.equal((await ctx.c.request('guest-ping')).return, {});
  } finally {
    fs.closeSync(writer);
  }
});

S.run();

// A big guest-file-write (megabytes of base64 at a raised max-request-bytes) on the real agent: its
// base64 is decoded in the request's own memory, and everything else answers as before: the id,
// Perl's "\n" escapes and member order, a request split across reads inside an escape, invalid
// base64 in the middle (and nothing written), big strings that are not a base64 argument.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Agent, startAgent, tempDir } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';

const LIMIT = 32 << 20;
const S = suite<{ agent: Agent; c: QgaClient; dir: string; n: number }>('a big guest-file-write');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

S.before(async (ctx) => {
  ctx.dir = tempDir('fwbig-');
  ctx.n = 0;
  fs.writeFileSync(path.join(ctx.dir, 'conf'), `max-request-bytes = ${LIMIT}\n`, { mode: 0o600 });
  ctx.agent = startAgent({ interval: 0.5, hangTimeout: 30, args: ['--block-rpcs', '', '--config', path.join(ctx.dir, 'conf')] });
  await ctx.agent.waitReady();
  ctx.c = await QgaClient.connect(ctx.agent.sock);
});
S.after(async (ctx) => { ctx.c.close(); await ctx.agent.stop(); });

/** A new empty file and its write handle. */
async function openNew(ctx: { c: QgaClient; dir: string; n: number }): Promise<{ file: string; h: number }> {
  const file = path.join(ctx.dir, `f${++ctx.n}`);
  return { file, h: (await ctx.c.request('guest-file-open', { path: file, mode: 'w' })).return };
}

const perl = (b64: string): string => b64.replace(/.{76}/g, '$&\\n');
const write = (h: number, content: string, tail = ''): string => `{"execute":"guest-file-write","arguments":{"handle":${h},"buf-b64":"${content}"}${tail}}`;

// First, while the worker holds no garbage of earlier requests that a collection could free meanwhile.
S('a 24 MB request raises the worker\'s peak memory by less than 1.5 times its size (whole, it took 2.8)', async (ctx) => {
  const pid = ctx.agent.workerPid()!;
  const kib = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  const a = await openNew(ctx);
  const req = write(a.h, Buffer.alloc(18 << 20, 3).toString('base64'));
  // Resets the peak resident size to the current one.
  fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
  const before = kib('VmRSS');
  ctx.c.write(req);
  assert.equal(await ctx.c.next(20_000), { return: { count: 18 << 20, eof: false } });
  const grown = (kib('VmHWM') - before) * 1024;
  console.log(`    peak resident growth ${(grown / req.length).toFixed(2)}x a ${(req.length / 1e6).toFixed(1)} MB request`);
  assert.ok(grown < 1.5 * req.length, `peak grew by ${grown} bytes for a request of ${req.length}`);
});

S('written as sent, and in the order and escapes Perl sends (execute last, "\\n" every 76 characters), with its id', async (ctx) => {
  const data = crypto.randomBytes(3 << 20);
  const a = await openNew(ctx);
  ctx.c.write(write(a.h, data.toString('base64')));
  assert.equal(await ctx.c.next(10_000), { return: { count: data.length, eof: false } });
  assert.ok(fs.readFileSync(a.file).equals(data));
  const b = await openNew(ctx);
  ctx.c.write(`{"arguments":{"buf-b64":"${perl(data.toString('base64'))}","handle":${b.h}},"id":"x-1","execute":"guest-file-write"}`);
  assert.equal(await ctx.c.next(10_000), { return: { count: data.length, eof: false }, id: 'x-1' });
  assert.ok(fs.readFileSync(b.file).equals(data));
});

S('split across reads at every position of an escape', async (ctx) => {
  const data = crypto.randomBytes(1200 << 10);
  for (let d = -1; d <= 2; d++) {
    const a = await openNew(ctx);
    const req = Buffer.from(write(a.h, perl(data.toString('base64'))));
    const at = req.indexOf('\\n', req.length >> 1) + d;
    ctx.c.write(req.subarray(0, at));
    await sleep(50);
    ctx.c.write(req.subarray(at));
    assert.equal(await ctx.c.next(10_000), { return: { count: data.length, eof: false } }, `split at the escape ${d}`);
    assert.ok(fs.readFileSync(a.file).equals(data));
  }
});

S('invalid base64 in the middle: the error as before, and nothing written', async (ctx) => {
  const b64 = Buffer.alloc(3 << 20, 0x5a).toString('base64');
  const mid = (b64.length >> 1) & ~3;
  const cases: Array<[string, string]> = [
    [b64.slice(0, mid) + '*' + b64.slice(mid + 1), 'Base64 data contains invalid characters'],
    [b64.slice(0, mid) + 'Wl=a' + b64.slice(mid + 4), `Base64 data has a misplaced '=' in the group of four at offset ${mid} (one or two '=' may only pad the end of a group)`],
    [b64.slice(0, -1), `Base64 data ends with an incomplete group of 3 characters at offset ${b64.length - 4}: pad it with '=' to four`],
    [b64.slice(0, mid) + 'é' + b64.slice(mid + 1), 'Base64 data contains invalid characters'],
  ];
  for (const [content, desc] of cases) {
    const a = await openNew(ctx);
    ctx.c.write(write(a.h, content, ',"id":7'));
    assert.equal(await ctx.c.next(10_000), { error: { class: 'GenericError', desc }, id: 7 });
    assert.is(fs.statSync(a.file).size, 0);
  }
});

S('big strings that are not a base64 argument read as before', async (ctx) => {
  const big = Buffer.alloc(3 << 20, 1).toString('base64');
  const a = await openNew(ctx);
  // A big id next to a small buf-b64: echoed digit for digit.
  ctx.c.write(write(a.h, 'QUJD', `,"id":"${big}"`));
  assert.equal(await ctx.c.next(10_000), { return: { count: 3, eof: false }, id: big });
  ctx.c.write(`{"execute":"guest-ping","arguments":{"pad":"${big}"},"id":1}`);
  assert.equal(await ctx.c.next(10_000), { error: { class: 'GenericError', desc: "Parameter 'pad' is unexpected" }, id: 1 });
  ctx.c.write(`{"execute":"guest-file-write","arguments":{"handle":${a.h},"buf-b64":"QUJD","path":"${big}"},"id":2}`);
  assert.equal(await ctx.c.next(10_000), { error: { class: 'GenericError', desc: "Parameter 'path' is unexpected" }, id: 2 });
  // \u escapes are not left in the bytes: parsed whole as before, they decode.
  ctx.c.write(write(a.h, '\\u0051UJD'.repeat(400_000)));
  assert.equal(await ctx.c.next(10_000), { return: { count: 1_200_000, eof: false } });
  assert.equal(fs.readFileSync(a.file), Buffer.concat([Buffer.from('ABC'), Buffer.from('ABC'.repeat(400_000))]));
});

S('malformed, duplicated or over the limit: the same errors as before', async (ctx) => {
  const big = Buffer.alloc(3 << 20, 2).toString('base64');
  const { h } = await openNew(ctx);
  ctx.c.write(`{"execute":"guest-file-write","arguments":{"handle":${h},"buf-b64":"${big}",},"id":3}`);
  assert.equal(await ctx.c.next(10_000), { error: { class: 'GenericError', desc: 'JSON parse error, expecting value' } });
  ctx.c.write(`{"execute":"guest-file-write","arguments":{"handle":${h},"buf-b64":"${big}","buf-b64":"QUJD"},"id":4}`);
  assert.equal(await ctx.c.next(10_000), { error: { class: 'GenericError', desc: 'JSON parse error, duplicate key' } });
  ctx.c.write(`{"execute":"guest-file-write","arguments":{"handle":${h},"buf-b64":"${'A'.repeat(LIMIT)}"}}`);
  assert.equal(await ctx.c.next(10_000), { error: { class: 'GenericError', desc: `JSON token size limit exceeded: a request may hold at most ${LIMIT} bytes` } });
  assert.equal(await ctx.c.request('guest-ping'), { return: {} });
});

S('a 0xFF or a raw newline inside a big request: one error, nothing written, and the next request (a sync) is answered', async (ctx) => {
  const b64 = Buffer.alloc(3 << 20, 4).toString('base64');
  for (const bad of [Buffer.from([0xff]), Buffer.from('\n')]) {
    const a = await openNew(ctx);
    const req = Buffer.from(write(a.h, b64));
    ctx.c.write(Buffer.concat([req.subarray(0, req.length >> 1), bad, req.subarray(req.length >> 1)]));
    ctx.c.write('\n{"execute":"guest-sync-delimited","arguments":{"id":9007199254740993}}');
    assert.equal(await ctx.c.next(10_000), { error: { class: 'GenericError', desc: `JSON parse error, stray '${bad[0] === 0xff ? '\ufffd' : '\n'}'` } });
    assert.is(await ctx.c.nextLine(10_000), '\xff{"return":9007199254740993}');
    assert.is(fs.statSync(a.file).size, 0);
  }
});

S.run();

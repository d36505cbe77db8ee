// The qemu-ga wire protocol against the built agent, over a real unix socket.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import { Agent, startAgent } from './helpers/agent';
import { QgaClient } from './helpers/qga-client';

const P = suite<{ agent: Agent; c: QgaClient; worker: number }>('protocol');

P.before(async (ctx) => {
  ctx.agent = startAgent({ interval: 1, hangTimeout: 10, args: ['--block-rpcs', 'phoenix-agent-status'] });
  ctx.worker = await ctx.agent.waitReady();
  ctx.c = await QgaClient.connect(ctx.agent.sock);
});
P.after(async (ctx) => {
  ctx.c.close();
  await ctx.agent.stop();
});

const send = async (c: QgaClient, text: string | Buffer): Promise<any> => { c.write(text); return c.next(); };

P('envelope errors have qemu-ga texts and echo the id when there is one', async ({ c }) => {
  const rows: Array<[string, unknown]> = [
    ['[1]', { error: { class: 'GenericError', desc: 'QMP input must be a JSON object' } }],
    ['"x"', { error: { class: 'GenericError', desc: 'QMP input must be a JSON object' } }],
    ['{}', { error: { class: 'GenericError', desc: "QMP input lacks member 'execute'" } }],
    ['{"execute":1}', { error: { class: 'GenericError', desc: "QMP input member 'execute' must be a string" } }],
    ['{"execute":"guest-ping","foo":1,"id":3}', { id: 3, error: { class: 'GenericError', desc: "QMP input member 'foo' is unexpected" } }],
    ['{"execute":"guest-ping","arguments":[]}', { error: { class: 'GenericError', desc: "QMP input member 'arguments' must be an object" } }],
    ['{"execute":"nope","id":"abc"}', { id: 'abc', error: { class: 'CommandNotFound', desc: 'The command nope has not been found' } }],
    ['{"execute":"guest-sync"}', { error: { class: 'GenericError', desc: "Parameter 'id' is missing" } }],
    ['{"execute":"guest-sync","arguments":{"id":"a"},"id":[1,2]}', { id: [1, 2], error: { class: 'GenericError', desc: "Invalid parameter type for 'id', expected: integer" } }],
    ['{"execute":"guest-sync","arguments":{"id":1,"x":2}}', { error: { class: 'GenericError', desc: "Parameter 'x' is unexpected" } }],
    ['{"execute":"guest-sync","arguments":{"id":1.5}}', { error: { class: 'GenericError', desc: "Invalid parameter type for 'id', expected: integer" } }],
    ['{"execute":"guest-sync","arguments":{"id":9223372036854775808}}', { error: { class: 'GenericError', desc: "Invalid parameter type for 'id', expected: integer" } }],
    ['{"execute":"guest-ping","arguments":{"a":1}}', { error: { class: 'GenericError', desc: "Parameter 'a' is unexpected" } }],
    ['{"execute":"guest-ping","execute":"guest-ping"}', { error: { class: 'GenericError', desc: 'JSON parse error, duplicate key' } }],
    ['{"execute":"phoenix-agent-status","id":4}', { id: 4, error: { class: 'CommandNotFound', desc: 'Command phoenix-agent-status has been disabled' } }],
  ];
  for (const [req, want] of rows) assert.equal(await send(c, req), want, req);
});

P('sync ids beyond 2^53 come back digit for digit; guest-sync-delimited sends 0xFF first', async ({ c }) => {
  for (const id of ['9007199254740993', '9223372036854775807', '-9223372036854775808', '0', '-1']) {
    c.write(`{"execute":"guest-sync","arguments":{"id":${id}}}`);
    assert.is(await c.nextLine(), `{"return":${id}}`);
  }
  c.write('{"execute":"guest-sync-delimited","arguments":{"id":18446744073709551}}');
  assert.is(await c.nextLine(), '\xff{"return":18446744073709551}');
});

P('0xFF in the middle of a request resets the lexer with one id-less error, then the stream works', async ({ c }) => {
  c.write(Buffer.concat([Buffer.from('{"execute":"guest-sync","arguments":{"id'), Buffer.from([0xff]),
    Buffer.from('{"execute":"guest-sync-delimited","arguments":{"id":77}}')]));
  assert.equal(await c.next(), { error: { class: 'GenericError', desc: "JSON parse error, stray '\ufffd'" } });
  assert.is(await c.nextLine(), '\xff{"return":77}');
});

P('pipelined requests in one write are all answered, in order', async ({ c }) => {
  let batch = '';
  for (let i = 0; i < 2000; i++) batch += `{"execute":"guest-sync","arguments":{"id":${i}}}${i % 3 ? '\n' : ''}`;
  c.write(batch);
  for (let i = 0; i < 2000; i++) assert.is(await c.nextLine(), `{"return":${i}}`);
});

P('one request split across many writes', async ({ c }) => {
  const req = '{"execute" : "guest-ping",\n "id" : {"n": [1, 2, "}"]}}';
  for (const ch of req) { c.write(ch); await new Promise((r) => setImmediate(r)); }
  assert.equal(await c.next(), { return: {}, id: { n: [1, 2, '}'] } });
});

P('guest-info lists every command with enabled and success-response', async ({ c }) => {
  const r = await send(c, '{"execute":"guest-info"}');
  const names = r.return.supported_commands.map((x: { name: string }) => x.name);
  for (const n of ['guest-sync', 'guest-sync-delimited', 'guest-ping', 'guest-info', 'phoenix-agent-status']) assert.ok(names.includes(n), n);
  assert.equal(r.return.supported_commands.find((x: { name: string }) => x.name === 'phoenix-agent-status'),
    { enabled: false, name: 'phoenix-agent-status', 'success-response': true });
  assert.not.ok(names.some((n: string) => n.startsWith('phoenix-test-')), 'test hooks are off by default');
});

P('replies stay byte-exact while the peer reads slowly (writes queued in libuv across collections)', async ({ agent }) => {
  // A peer that stops reading makes the worker's writes asynchronous; the worker keeps parsing
  // and allocating meanwhile, so collections run while libuv still holds the reply buffers.
  const s = net.connect(agent.sock);
  await new Promise((r) => s.once('connect', r));
  s.pause();
  const N = 6000;
  let batch = '';
  for (let i = 0; i < N; i++) batch += `{"execute":"guest-info","id":${i}}`;
  s.write(batch);
  await new Promise((r) => setTimeout(r, 1500));
  const want = await new Promise<string[]>((resolve, reject) => {
    let buf = '';
    const lines: string[] = [];
    const t = setTimeout(() => reject(new Error(`${lines.length} of ${N} replies within 20 s`)), 20_000);
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) { lines.push(buf.slice(0, nl)); buf = buf.slice(nl + 1); }
      if (lines.length >= N) { clearTimeout(t); resolve(lines); }
    });
    s.resume();
  });
  s.destroy();
  const first = JSON.parse(want[0]);
  assert.is(first.id, 0);
  for (let i = 0; i < N; i++) {
    let r: { id: number; return: unknown };
    try { r = JSON.parse(want[i]); } catch { assert.unreachable(`reply ${i} is not JSON: ${want[i].slice(0, 80)}`); return; }
    assert.is(r.id, i);
    assert.equal(r.return, first.return, `reply ${i}`);
  }
});

function workerRssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

P('a 100 MB request is refused with one error, memory stays bounded, the same worker keeps serving', async ({ c, worker }) => {
  const before = workerRssKb(worker);
  c.write('{"execute":"guest-ping","arguments":{"x":"');
  const chunk = Buffer.alloc(1 << 20, 0x61);
  let peak = 0;
  for (let i = 0; i < 100; i++) {
    if (!c.socket.write(chunk)) await new Promise((r) => c.socket.once('drain', r));
    if (i % 10 === 0) peak = Math.max(peak, workerRssKb(worker));
  }
  c.write('"}}{"execute":"guest-ping","id":"after"}');
  const err = await c.next(10_000);
  assert.is(err.error.class, 'GenericError');
  assert.match(err.error.desc, /^JSON token size limit exceeded/);
  assert.equal(await c.next(10_000), { return: {}, id: 'after' });
  peak = Math.max(peak, workerRssKb(worker));
  console.log(`    worker RSS growth during a 100 MB request: ${peak - before} KiB`);
  assert.ok(peak - before < 3 * 1024, `worker RSS grew by ${peak - before} KiB while 100 MB went through`);
});

P('random garbage (fuzzing the framing) never crashes the worker', async ({ agent, c, worker }) => {
  const alphabet = Buffer.from('{}[]:,"\'\\ 0123456789.-+eE truefalsnul\n\t\x01\xff\x00abc');
  for (let i = 0; i < 3000; i++) {
    const n = 1 + crypto.randomInt(40);
    const b = Buffer.alloc(n);
    for (let j = 0; j < n; j++) b[j] = crypto.randomInt(10) === 0 ? crypto.randomInt(256) : alphabet[crypto.randomInt(alphabet.length)];
    c.write(b);
  }
  // Resync the qemu-ga way and check that the same worker answers.
  c.write(Buffer.concat([Buffer.from([0xff]), Buffer.from('{"execute":"guest-sync-delimited","arguments":{"id":4242}}')]));
  for (;;) {
    const line = await c.nextLine(10_000);
    if (line === '\xff{"return":4242}') break;
  }
  assert.is(agent.workerPid(), worker);
  assert.is(agent.state()!.restarts_total, 0);
});

P.run();

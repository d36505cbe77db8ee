// No byte sequence silences the channel: after any garbage, a plain `guest-sync` on the next line is
// answered, on the same connection (libvirt keeps one connection for a domain's life and never
// sends 0xFF). Run against the built agent, and against Debian's qemu-ga for comparison: wherever
// qemu-ga recovers, phoenix-ga recovers too, and it also recovers where qemu-ga does not.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Agent, startAgent } from './helpers/agent';
import { QgaClient } from './helpers/qga-client';
import { QemuGa, startQemuGa } from './helpers/qemu-ga';

const R = suite<{ agent: Agent; qga: QemuGa }>('channel recovery');

R.before(async (ctx) => {
  ctx.agent = startAgent({ interval: 1, hangTimeout: 10 });
  ctx.qga = await startQemuGa();
  await ctx.agent.waitReady();
});
R.after(async (ctx) => {
  ctx.qga.stop();
  await ctx.agent.stop();
});

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Garbage a real channel sees: line noise, half-written requests of a crashed client, hostile bytes. */
const CASES: Array<[string, Buffer]> = [
  ['one stray double quote', b('"\n')],
  ['hello"world', b('hello"world\n')],
  ['NUL inside a string', b('{"execute":"guest-\x00ping"}\n')],
  ['unterminated id string', b('{"execute":"guest-ping","id":"abc}\n')],
  ['unclosed brace', b('{\n')],
  ['unfinished after a colon', b('{"execute":"guest-exec","arguments":\n')],
  ['unfinished after a comma', b('{"execute":"guest-ping",\n')],
  ['missing closing brace', b('{"execute":"guest-ping"\n')],
  ['stray closing brace', b('}\n')],
  ['commas', b(',,,,,,\n')],
  ['TAB inside a string', b('{"execute":"guest-ping","id":"a\tb"}\n')],
  ['2000 open brackets', b('['.repeat(2000) + '\n')],
  ['a run of 0xFF', Buffer.from([0xff, 0xff, 0xff, 0x0a])],
  ['invalid UTF-8 outside strings', Buffer.from([0x80, 0xc3, 0x28, 0x0a])],
  ['backslash at the end of a line', b('{"a":"x\\\n')],
  ['single-quoted string left open', b("{'execute':'guest-ping\n")],
  ['CR LF line ends', b('{"execute":\r\n')],
];

/**
 * Writes BYTES, then a plain guest-sync on its own line, and reads until the sync reply; returns
 * the lines before it, or null when the sync was never answered.
 */
async function recovers(sock: string, bytes: Buffer): Promise<string[] | null> {
  const c = await QgaClient.connect(sock);
  try {
    const id = 100000 + Math.floor(Math.random() * 1e6);
    c.write(bytes);
    c.write(`{"execute":"guest-sync","arguments":{"id":${id}}}\n`);
    const before: string[] = [];
    for (;;) {
      let line: string;
      try { line = await c.nextLine(1500); } catch { return null; }
      if (line === `{"return": ${id}}` || line === `{"return":${id}}`) return before;
      before.push(line);
    }
  } finally {
    c.close();
  }
}

R('after any garbage, a plain guest-sync on the next line is answered, with at most two error replies', async ({ agent }) => {
  for (const [name, bytes] of CASES) {
    const before = await recovers(agent.sock, bytes);
    assert.ok(before !== null, `${name}: the guest-sync was never answered`);
    assert.ok(before!.length <= 2, `${name}: ${before!.length} replies before the sync: ${before!.join(' | ')}`);
    for (const l of before!) assert.ok(/^\{"error":\{"class":"GenericError","desc":"JSON parse error, |^\{"error":\{"class":"GenericError","desc":"(QMP input|JSON nesting)/.test(l), `${name}: ${l}`);
  }
});

R('wherever qemu-ga recovers, phoenix-ga recovers too (and where it does not)', async ({ agent, qga }) => {
  const table: string[] = [];
  for (const [name, bytes] of CASES) {
    const theirs = await recovers(qga.sock, bytes);
    const ours = await recovers(agent.sock, bytes);
    table.push(`${name}: qemu-ga ${theirs ? `recovers (${theirs.length} errors)` : 'NEVER answers'}, phoenix-ga ${ours ? `recovers (${ours.length})` : 'NEVER'}`);
    if (theirs) assert.ok(ours, `${name}: qemu-ga recovers, phoenix-ga does not`);
  }
  console.log('    ' + table.join('\n    '));
});

R('a megabyte of commas costs one error reply, not one per byte', async ({ agent }) => {
  const before = await recovers(agent.sock, Buffer.concat([Buffer.alloc(1 << 20, ','), b('\n')]));
  assert.equal(before, ['{"error":{"class":"GenericError","desc":"JSON parse error, expecting value"}}']);
});

R('random garbage of every kind, then a newline: the next guest-sync is always answered on the same connection', async ({ agent }) => {
  const c = await QgaClient.connect(agent.sock);
  let seed = 12345;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  try {
    for (let round = 0; round < 300; round++) {
      const junk = Buffer.alloc(1 + rnd(200));
      for (let i = 0; i < junk.length; i++) junk[i] = rnd(3) === 0 ? b('{}[]"\'\\,:\n\r\t0123456789-.eE').at(rnd(25))! : rnd(256);
      const id = 500000 + round;
      c.write(junk);
      c.write(`\n{"execute":"guest-sync","arguments":{"id":${id}}}\n`);
      for (;;) {
        const line = await c.nextLine(3000).catch((e) => { throw new Error(`round ${round} (${junk.toString('hex')}): ${(e as Error).message}`); });
        if (line === `{"return":${id}}`) break;
      }
    }
  } finally {
    c.close();
  }
});

R('an id that overflows a double is echoed as it was sent, not as null or inf', async ({ agent }) => {
  const c = await QgaClient.connect(agent.sock);
  try {
    c.write('{"execute":"guest-ping","id":1e400}\n{"execute":"guest-ping","id":-1E+999}\n');
    assert.is(await c.nextLine(), '{"return":{},"id":1e400}');
    assert.is(await c.nextLine(), '{"return":{},"id":-1E+999}');
    c.write('{"execute":"guest-sync","arguments":{"id":1e400}}\n');
    assert.equal(await c.next(), { error: { class: 'GenericError', desc: "Invalid parameter type for 'id', expected: integer" } });
  } finally {
    c.close();
  }
});

R.run();

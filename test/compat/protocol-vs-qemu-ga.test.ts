// The same bytes to Debian's qemu-ga and to phoenix-ga, on the same machine: replies must be the
// same JSON (spacing aside). Deliberate differences are listed in docs/protocol.md and tested
// in test/protocol.test.ts instead.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Agent, startAgent } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { QemuGa, startQemuGa } from '../helpers/qemu-ga';

const S = suite<{ qga: QemuGa; agent: Agent; blockedQga: QemuGa; blockedAgent: Agent }>('protocol vs qemu-ga');

S.before(async (ctx) => {
  ctx.qga = await startQemuGa();
  ctx.blockedQga = await startQemuGa(['-b', 'guest-ping']);
  ctx.agent = startAgent({ interval: 1, hangTimeout: 10 });
  ctx.blockedAgent = startAgent({ interval: 1, hangTimeout: 10, args: ['--block-rpcs', 'guest-ping'] });
  await ctx.agent.waitReady();
  await ctx.blockedAgent.waitReady();
});
S.after(async (ctx) => {
  ctx.qga.stop();
  ctx.blockedQga.stop();
  await ctx.agent.stop();
  await ctx.blockedAgent.stop();
});

/** Sends BYTES, collects N reply lines, and returns them parsed (a 0xFF prefix kept as a flag). */
async function exchange(sock: string, bytes: Buffer, n: number): Promise<unknown[]> {
  const c = await QgaClient.connect(sock);
  try {
    c.write(bytes);
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) {
      const line = await c.nextLine(3000);
      out.push({ delimited: line.startsWith('\xff'), reply: JSON.parse(line.replace(/^\xff/, '')) });
    }
    return out;
  } finally {
    c.close();
  }
}

const CASES: Array<[string, string | Buffer, number]> = [
  ['ping', '{"execute":"guest-ping"}', 1],
  ['ping with id', '{"execute":"guest-ping","id":7}', 1],
  ['string id', '{"execute":"guest-ping","id":"abc"}', 1],
  ['object id', '{"execute":"guest-ping","id":{"a":[1,null,true]}}', 1],
  ['not an object', '[1]', 1],
  ['string', '"x"', 1],
  ['no execute', '{}', 1],
  ['execute not a string', '{"execute":1}', 1],
  ['unexpected member', '{"execute":"guest-ping","foo":1}', 1],
  ['arguments not an object', '{"execute":"guest-ping","arguments":[]}', 1],
  ['arguments null', '{"execute":"guest-ping","arguments":null}', 1],
  ['unknown command', '{"execute":"nope","id":"x"}', 1],
  ['unexpected argument', '{"execute":"guest-ping","arguments":{"a":1}}', 1],
  ['missing argument', '{"execute":"guest-sync"}', 1],
  ['wrong argument type', '{"execute":"guest-sync","arguments":{"id":"a"},"id":[1,2]}', 1],
  ['float id', '{"execute":"guest-sync","arguments":{"id":1.5}}', 1],
  ['id beyond int64', '{"execute":"guest-sync","arguments":{"id":9223372036854775808}}', 1],
  ['sync 2^53+1', '{"execute":"guest-sync","arguments":{"id":9007199254740993}}', 1],
  ['sync int64 max', '{"execute":"guest-sync","arguments":{"id":9223372036854775807}}', 1],
  ['sync negative', '{"execute":"guest-sync","arguments":{"id":-1}}', 1],
  ['sync-delimited', '{"execute":"guest-sync-delimited","arguments":{"id":123456789}}', 1],
  ['duplicate key', '{"execute":"guest-ping","execute":"guest-ping"}', 1],
  ['three pipelined', '{"execute":"guest-ping","id":1}{"execute":"guest-sync","arguments":{"id":2}}\n{"execute":"guest-ping","id":3}', 3],
  ['single quotes', "{'execute':'guest-ping','id':'q'}", 1],
  ['0xFF then sync-delimited', Buffer.concat([Buffer.from([0xff]), Buffer.from('{"execute":"guest-sync-delimited","arguments":{"id":5}}')]), 2],
  ['expecting value', '{"execute":"guest-ping",}', 1],
  ['missing colon', '{"execute" "x"}', 1],
  ['separator in dict', '{"execute":"guest-ping" "id":2}', 1],
  ['key not a string', '{1:2}', 1],
  ['invalid escape', '{"execute":"\\x"}', 1],
  ['lone surrogate', '{"execute":"\\uDE00"}', 1],
];

for (const [name, bytes, n] of CASES) {
  S(`same reply as qemu-ga: ${name}`, async ({ qga, agent }) => {
    const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    assert.equal(await exchange(agent.sock, b, n), await exchange(qga.sock, b, n));
  });
}

S('a blocked command answers like qemu-ga: CommandNotFound, "has been disabled"', async ({ blockedQga, blockedAgent }) => {
  const b = Buffer.from('{"execute":"guest-ping","id":1}');
  assert.equal(await exchange(blockedAgent.sock, b, 1), await exchange(blockedQga.sock, b, 1));
});

S.run();

// A read of many pipelined requests is answered in writes of bounded size, not one write of every
// reply: a worker killed during a write leaves only that write's replies in doubt.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Dispatcher } from '../../agent/dispatcher';
import { Session } from '../../agent/session';

test('2,600 pipelined requests with 4 KB replies: writes of at most 64 KiB and one reply, every reply once', () => {
  const big = 'x'.repeat(4000);
  const dispatcher = {
    parse: (t: Buffer) => ({ request: { execute: t.toString('latin1'), args: {}, id: { present: false } }, command: undefined }),
    run: () => ({ line: `{"return":"${big}"}`, delimited: false }),
    lexicalError: () => null,
    setPolicy: () => {},
  } as unknown as Dispatcher;
  const writes: number[] = [];
  let lines = 0;
  const link = {
    write(data: string, written?: () => void) { writes.push(data.length); lines += data.split('\n').length - 1; written?.(); return true; },
    onDrain() {}, pause() {}, resume() {},
  };
  const s = new Session(link, dispatcher, { limits: { maxBytes: 1 << 20, maxDepth: 64 }, onBusy() {} });
  s.feed(Buffer.from('{"execute":"guest-info"}'.repeat(2600)));
  assert.is(lines, 2600);
  assert.ok(writes.length > 1, `${writes.length} write(s)`);
  assert.ok(Math.max(...writes) <= (64 << 10) + big.length + 20, `largest write ${Math.max(...writes)} bytes`);
});

test.run();

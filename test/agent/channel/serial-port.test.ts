// The serial port's wait after EOF (no host connected): doubling from 100 ms to 1 s while hosts
// come and go, up to 5 s once the host has been away a minute (at most 0.2 wake-ups a second).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nextRetryMs, RETRY } from '../../../agent/channel/serial-port';

test('waits double from the first to the cap, and to the long cap once the host is long gone', () => {
  const waits: number[] = [];
  let gone = 0;
  let last: number | null = null;
  while (gone < 3 * RETRY.longAfterMs) { last = nextRetryMs(last, gone); waits.push(last); gone += last; }
  assert.equal(waits.slice(0, 5), [100, 200, 400, 800, 1000]);
  const early = waits.filter((_, i) => waits.slice(0, i).reduce((a, b) => a + b, 0) < RETRY.longAfterMs);
  assert.ok(early.every((w) => w <= RETRY.capMs));
  assert.is(waits[waits.length - 1], RETRY.longCapMs);
  // Idle with the host gone for good: one read every 5 s.
  const lastMinute = waits.slice(-12);
  assert.ok(lastMinute.every((w) => w === RETRY.longCapMs), JSON.stringify(lastMinute));
});

test('data from the host starts the waits over', () => {
  assert.is(nextRetryMs(null, 10 * RETRY.longAfterMs), RETRY.firstMs);
});

test.run();

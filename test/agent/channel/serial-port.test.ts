// The serial port's wait after EOF (no host connected): doubling from 100 ms to 1 s while hosts
// come and go, up to 2 s once the host has been away a minute (0.5 wake-ups a second), never so
// long that a client's first command after connecting times out.
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
  // Idle with the host gone for good: one read every 2 s.
  const lastMinute = waits.slice(-30);
  assert.ok(lastMinute.every((w) => w === RETRY.longCapMs), JSON.stringify(lastMinute));
});

test('no wait is so long that a client connecting at its start gives up on its first command', () => {
  // Proxmox checks the agent with a guest-ping it abandons after 3 s (qga_check_running), and the
  // port is not read before the wait ends: the longest wait leaves at least a second for the reply.
  assert.ok(RETRY.longCapMs <= 2000 && RETRY.capMs <= RETRY.longCapMs, JSON.stringify(RETRY));
});

test('data from the host starts the waits over', () => {
  assert.is(nextRetryMs(null, 10 * RETRY.longAfterMs), RETRY.firstMs);
});

test.run();

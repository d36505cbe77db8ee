// The exact offset at the RTC's second edge, over a simulated RTC and clocks whose sleeps may
// overshoot (a loaded VM): a blurred edge is not trusted while a sharper one can be had.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exactReading, Rtc } from '../../../agent/clock/rtc';

/** World time starts 300 ms into a second; the wall clock is OFFSET ms ahead of the RTC; each sleep lasts SLEEPS.shift() ?? asked. */
function sim(offset: number, sleeps: number[]) {
  let t = 1_796_000_000_300;
  const rtc: Rtc = { local: false, seconds: () => Math.floor(t / 1000) };
  const clocks = { wallMs: () => t + offset, monoMs: () => t - 1_796_000_000_000 };
  return { rtc, clocks, sleep: async (ms: number) => { t += sleeps.shift() ?? ms; } };
}

test('a sharp edge: the offset to within half a poll', async () => {
  const s = sim(-537, []);
  const r = (await exactReading(s.rtc, s.clocks, s.sleep))!;
  assert.ok(r.exact);
  assert.ok(Math.abs(r.offsetMs - -537) <= 5, String(r.offsetMs));
});

test('an edge seen across a 700 ms sleep is bettered by the next sharp one', async () => {
  const s = sim(250, [10, 700]);
  const r = (await exactReading(s.rtc, s.clocks, s.sleep))!;
  assert.ok(Math.abs(r.offsetMs - 250) <= 5, `${r.offsetMs}: the blurred edge would give up to 350 ms of error`);
});

test('only blurred edges: the sharpest is kept; no RTC: null', async () => {
  const s = sim(0, Array(400).fill(300));
  const r = (await exactReading(s.rtc, s.clocks, s.sleep))!;
  assert.ok(Math.abs(r.offsetMs) <= 150, String(r.offsetMs));
  assert.is(await exactReading({ local: false, seconds: () => null }, s.clocks, s.sleep), null);
});

test.run();

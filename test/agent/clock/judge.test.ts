// The decision of one clock check, as a table: offset history -> steady, new baseline, step, or
// refusal. Pure function; no clock is read or changed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Baseline, judge, Reading } from '../../../agent/clock/judge';
import { isRtcLocal } from '../../../agent/clock/rtc';
import { absoluteDate, relativeDate } from '../../../agent/clock/step';

const DAY = 86_400_000;
const base: Baseline = { offsetMs: -1_400, wallMs: 1_000_000, monoMs: 50_000 };
/** A check dt ms after the baseline; the wall clock lost `lost` ms against the RTC; setBy: the guest moved its own clock. */
function reading(dt: number, o: { lost?: number; setBy?: number; exact?: boolean; frac?: number } = {}): Reading {
  const wallMs = base.wallMs + dt + (o.setBy ?? 0) - (o.lost ?? 0);
  // A coarse reading is up to 1 s above the true offset (the RTC's whole seconds); frac says where.
  const offsetMs = base.offsetMs - (o.lost ?? 0) + (o.setBy ?? 0) + (o.exact ? 0 : o.frac ?? 600);
  return { wallMs, monoMs: base.monoMs + dt - (o.lost ?? 0), offsetMs, exact: o.exact ?? false };
}
const utc = { maxStepMs: DAY, rtcLocal: false };

const table: Array<[string, Reading, Partial<typeof utc>, ReturnType<typeof judge>]> = [
  ['a quiet check, RTC rounding at its low end', reading(10_000, { frac: 0 }), {}, { kind: 'steady' }],
  ['a quiet check, RTC rounding at its high end', reading(10_000, { frac: 999 }), {}, { kind: 'steady' }],
  ['an exact reading on the baseline', reading(10_000, { exact: true }), {}, { kind: 'steady' }],
  ['slow drift past the band: measured anew, not stepped', reading(3_600_000, { frac: 1_500 }), {}, { kind: 'rebase', why: 'drift', byMs: 500 }],
  ['a 60 s pause (wall and monotonic stood still, the RTC ran)', reading(10_000, { lost: 60_000, frac: 500 }), {}, { kind: 'jump', stepMs: 60_000 }],
  ['the same, exact', reading(10_000, { lost: 60_123, exact: true }), {}, { kind: 'jump', stepMs: 60_123 }],
  ['a restored snapshot: the clock is an hour behind', reading(10_000, { lost: 3_600_000, exact: true }), {}, { kind: 'jump', stepMs: 3_600_000 }],
  ['a snapshot from the future: stepped back', reading(10_000, { lost: -5_000, exact: true }), {}, { kind: 'jump', stepMs: -5_000 }],
  ['2 s is no jump (the threshold)', reading(10_000, { lost: 2_000, exact: true }), {}, { kind: 'rebase', why: 'drift', byMs: -2_000 }],
  ['past clock-heal-max-step: refused', reading(10_000, { lost: 2 * DAY, exact: true }), {}, { kind: 'too-big', stepMs: 2 * DAY }],
  ['a smaller max step', reading(10_000, { lost: 60_000, exact: true }), { maxStepMs: 30_000 }, { kind: 'too-big', stepMs: 60_000 }],
  ['date -s in the guest (wall against monotonic): not undone', reading(10_000, { setBy: 300_000 }), {}, { kind: 'rebase', why: 'set-by-guest', byMs: 300_000 }],
  ['NTP stepped the clock back 5 s: not fought', reading(10_000, { setBy: -5_000 }), {}, { kind: 'rebase', why: 'set-by-guest', byMs: -5_000 }],
  ['a local-time RTC moved an hour (DST): new baseline', reading(10_000, { lost: -3_600_000, frac: 500 }), { rtcLocal: true }, { kind: 'rebase', why: 'rtc-local-shift', byMs: 3_600_000 }],
  ['a local-time RTC: a 60 s pause is still healed', reading(10_000, { lost: 60_000, exact: true }), { rtcLocal: true }, { kind: 'jump', stepMs: 60_000 }],
  ['a UTC RTC: an hour is a jump', reading(10_000, { lost: -3_600_000, exact: true }), {}, { kind: 'jump', stepMs: -3_600_000 }],
];

for (const [name, r, p, want] of table) {
  test(name, () => assert.equal(judge(base, r, { ...utc, ...p }), want));
}

test('/etc/adjtime: LOCAL on the third line only', () => {
  assert.ok(isRtcLocal('0.0 0 0\n0\nLOCAL\n'));
  assert.not.ok(isRtcLocal('0.0 0 0\n0\nUTC\n'));
  assert.not.ok(isRtcLocal(null));
  assert.not.ok(isRtcLocal('LOCAL\n'));
});

test('date -s arguments: relative, whole milliseconds, both directions', () => {
  assert.is(relativeDate(60_250), '+60.250 seconds');
  assert.is(relativeDate(-3_000), '-3.000 seconds');
  assert.is(relativeDate(7), '+0.007 seconds');
  assert.throws(() => relativeDate(1.5), /whole milliseconds/);
  // BusyBox: the nearest whole second.
  assert.is(absoluteDate(1_796_517_282_600, 59_667), '@1796517342');
  assert.is(absoluteDate(1_796_517_282_600, -2_600), '@1796517280');
});

test.run();

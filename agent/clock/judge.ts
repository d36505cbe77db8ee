// What one clock check means: the wall clock against the hardware RTC (the host's time, which
// keeps running while a VM is paused) and against the monotonic clock (which only counts what the
// guest lived through). A constant offset between wall clock and RTC is normal (a drifting RTC,
// NTP steering the wall clock); a sudden change of it while the monotonic clock ran along with
// the wall clock is time the guest did not live: a pause, a migration, a restored snapshot.

/** An offset change past this is a jump; smaller ones are drift (and RTC rounding). */
export const JUMP_THRESHOLD_MS = 2000;
/** The RTC counts whole seconds: a coarse offset lies in [base, base + 1000) plus this slack. */
const SLACK_MS = 250;
/** A local-time RTC shifts by whole quarter hours (a zone or DST change), at most this far. */
const LOCAL_SHIFT_MAX_MS = 2 * 3600_000;

export interface Reading {
  wallMs: number;
  monoMs: number;
  /** Wall clock minus RTC (as UTC). */
  offsetMs: number;
  /** True when taken at the RTC's second edge (exact); false: the RTC's whole seconds (up to 1 s more). */
  exact: boolean;
}

/** The offset the wall clock keeps from the RTC (exact), and when the last check was. */
export interface Baseline { offsetMs: number; wallMs: number; monoMs: number }

export interface Policy { maxStepMs: number; rtcLocal: boolean }

export type Verdict =
  | { kind: 'steady' }
  /** The offset moved for a reason that is not ours to undo: measure it anew. */
  | { kind: 'rebase'; why: 'set-by-guest' | 'drift' | 'rtc-local-shift'; byMs: number }
  /** Time passed that the guest did not live: step the wall clock by stepMs (an estimate unless the reading was exact). */
  | { kind: 'jump'; stepMs: number }
  | { kind: 'too-big'; stepMs: number };

export function judge(base: Baseline, r: Reading, p: Policy): Verdict {
  // The wall clock moved apart from the monotonic one: someone in the guest set it (date, NTP).
  const setByGuest = (r.wallMs - base.wallMs) - (r.monoMs - base.monoMs);
  if (Math.abs(setByGuest) > JUMP_THRESHOLD_MS) return { kind: 'rebase', why: 'set-by-guest', byMs: setByGuest };
  const width = r.exact ? 0 : 1000;
  // How far the reading lies outside the band the baseline allows (0 inside it).
  const low = r.offsetMs - base.offsetMs;
  const outside = low < -SLACK_MS ? low : low > width + SLACK_MS ? low - width : 0;
  if (outside === 0) return { kind: 'steady' };
  if (Math.abs(outside) <= JUMP_THRESHOLD_MS) return { kind: 'rebase', why: 'drift', byMs: outside };
  // The middle of what the RTC's rounding allows.
  const stepMs = Math.round(base.offsetMs - (r.offsetMs - width / 2));
  if (p.rtcLocal && isQuarterHours(stepMs, width / 2 + SLACK_MS)) return { kind: 'rebase', why: 'rtc-local-shift', byMs: -stepMs };
  if (Math.abs(stepMs) > p.maxStepMs) return { kind: 'too-big', stepMs };
  return { kind: 'jump', stepMs };
}

function isQuarterHours(ms: number, tolerance: number): boolean {
  const q = 900_000;
  const n = Math.round(ms / q);
  return n !== 0 && Math.abs(ms) <= LOCAL_SHIFT_MAX_MS && Math.abs(ms - n * q) <= tolerance;
}

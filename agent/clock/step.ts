// Stepping the wall clock by an amount, through the OS door: GNU date applies a relative time to
// the clock it reads itself, so the time date takes to start (long in a slow VM) adds no error,
// as an absolute `date -s @T` computed before the spawn would. Node has no clock_settime.
// BusyBox's date (Alpine) knows no relative times: it gets the absolute whole second instead.

import type { System } from '../os/system';

/** The argument of `date -s` that moves the clock by STEPMS: "+60.250 seconds", "-3.000 seconds". */
export function relativeDate(stepMs: number): string {
  if (!Number.isSafeInteger(stepMs)) throw new Error(`a step must be whole milliseconds, got ${stepMs}`);
  const a = Math.abs(stepMs);
  return `${stepMs < 0 ? '-' : '+'}${Math.floor(a / 1000)}.${String(a % 1000).padStart(3, '0')} seconds`;
}

/** The nearest whole second to NOWMS + STEPMS, as BusyBox's `date -s` takes it: "@1796517342". */
export function absoluteDate(nowMs: number, stepMs: number): string {
  return `@${Math.round((nowMs + stepMs) / 1000)}`;
}

/** Steps the clock; null when done, else why not (date's own words). */
export async function stepClock(sys: System, stepMs: number, nowMs: () => number): Promise<string | null> {
  const date = sys.which('date');
  if (!date) return "no 'date' program";
  const run = (arg: string) => sys.run(date, ['-u', '-s', arg], { timeoutMs: 10_000, maxOutput: 1024 });
  const r = await run(relativeDate(stepMs));
  if (r.code === 0) return null;
  // A date that did not understand the relative time changed nothing: the absolute form then.
  if (!r.timedOut && /invalid date/i.test(r.stderr) && (await run(absoluteDate(nowMs(), stepMs))).code === 0) return null;
  return r.timedOut ? 'date did not finish within 10 s' : `date exited with ${r.code ?? r.signal}: ${r.stderr.trim().slice(0, 200)}`;
}

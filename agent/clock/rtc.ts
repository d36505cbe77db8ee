// Reading the hardware RTC through sysfs (one small read, the whole cost of an idle check) and
// measuring the wall clock's offset from it, coarse (whole seconds) or exact (at its second edge).

import type { Host } from '../os/host';
import type { Reading } from './judge';

export const RTC_FILE = '/sys/class/rtc/rtc0/since_epoch';

export interface Clocks { wallMs(): number; monoMs(): number }

export interface Rtc {
  /** The RTC's seconds since the epoch, as UTC; null when there is no RTC to read. */
  seconds(): number | null;
  /** True when /etc/adjtime says the RTC keeps local time (its third line is LOCAL). */
  readonly local: boolean;
}

/** LOCAL: the RTC counts local time, so its seconds are the zone's offset ahead of UTC. */
export function isRtcLocal(adjtime: string | null): boolean {
  return (adjtime ?? '').split('\n')[2]?.trim() === 'LOCAL';
}

export function openRtc(host: Host, zoneOffsetS: () => number = () => -new Date().getTimezoneOffset() * 60): Rtc {
  const local = isRtcLocal(host.read('/etc/adjtime'));
  return {
    local,
    seconds() {
      const text = host.read(RTC_FILE);
      const s = text === null ? NaN : Number(text.trim());
      if (!Number.isSafeInteger(s) || s <= 0) return null;
      return local ? s - zoneOffsetS() : s;
    },
  };
}

/** One check's reading: the RTC's whole seconds, so the offset is up to 1 s above the true one. */
export function coarseReading(rtc: Rtc, c: Clocks): Reading | null {
  const s = rtc.seconds();
  if (s === null) return null;
  const wallMs = c.wallMs();
  return { wallMs, monoMs: c.monoMs(), offsetMs: wallMs - s * 1000, exact: false };
}

/**
 * The offset at the RTC's second edge: the RTC is polled every POLL ms until its seconds change;
 * the edge lies between the last two polls, so the error is half the gap between them. A busy
 * system (a VM under load) may sleep far longer than asked: an edge seen across a gap over
 * MAXGAP ms is kept only until a sharper one is seen (at most 3.5 s, three edges).
 * Taken only when the baseline is set or a jump is seen, never on an idle check.
 */
export async function exactReading(rtc: Rtc, c: Clocks, sleep: (ms: number) => Promise<void>, pollMs = 10, maxGapMs = 50): Promise<Reading | null> {
  let last = rtc.seconds();
  if (last === null) return null;
  let before = c.wallMs();
  let best: Reading | null = null;
  let bestGap = Infinity;
  const end = c.monoMs() + 3500;
  while (c.monoMs() < end) {
    await sleep(pollMs);
    const s = rtc.seconds();
    const wallMs = c.wallMs();
    if (s === null) return null;
    if (s !== last) {
      const gap = wallMs - before;
      if (gap < bestGap) { bestGap = gap; best = { wallMs, monoMs: c.monoMs(), offsetMs: Math.round((before + wallMs) / 2) - s * 1000, exact: true }; }
      if (gap <= maxGapMs) break;
      last = s;
    }
    before = wallMs;
  }
  return best;
}

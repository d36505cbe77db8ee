// guest-shutdown (no reply when it succeeds, as qemu-ga) and guest-set-time.

import type { System } from '../os/system';
import { QgaError } from '../wire/reply';

const fail = (desc: string): never => { throw new QgaError('GenericError', desc); };

export async function shutdown(sys: System, mode: 'halt' | 'powerdown' | 'reboot'): Promise<void> {
  const tool = sys.which('shutdown') ?? fail("cannot find 'shutdown' program");
  const flag = mode === 'halt' ? '-H' : mode === 'reboot' ? '-r' : '-P';
  const r = await sys.run(tool, [flag, '+0', 'hypervisor initiated shutdown'], { timeoutMs: 30_000 });
  // systemd's shutdown returns at once; sysvinit's may be killed with us: both are success.
  if (r.code !== 0 && r.code !== null) fail(`shutdown failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
}

/** With a time (ns since the epoch): set the clock, then the RTC. Without: set the clock from the RTC. */
export async function setTime(sys: System, timeNs: number | bigint | undefined): Promise<Record<string, never>> {
  const hwclock = sys.which('hwclock');
  if (timeNs === undefined) {
    if (!hwclock) throw new QgaError('GenericError', 'this feature or command is not currently supported: no hwclock program to read the RTC');
    const r = await sys.run(hwclock, ['-s'], { timeoutMs: 15_000 });
    if (r.code !== 0) fail(`hwclock -s failed: ${r.stderr.trim().slice(0, 300)}`);
    return {};
  }
  const ns = BigInt(timeNs);
  // Before 2000 or after 2200 is a panel bug, not a time to set.
  if (ns < 946_684_800n * 1_000_000_000n || ns > 7_258_118_400n * 1_000_000_000n) fail("Parameter 'time' is not a plausible time (2000..2200, in nanoseconds since the epoch)");
  const date = sys.which('date') ?? fail("cannot find 'date' program");
  const secs = ns / 1_000_000_000n, frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  const r = await sys.run(date, ['-u', '-s', `@${secs}.${frac}`], { timeoutMs: 10_000 });
  if (r.code !== 0) fail(`setting the clock failed: ${r.stderr.trim().slice(0, 300)}`);
  if (hwclock) {
    const w = await sys.run(hwclock, ['-w'], { timeoutMs: 15_000 });
    if (w.code !== 0) fail(`the clock is set, but writing the RTC failed: ${w.stderr.trim().slice(0, 300)}`);
  }
  return {};
}

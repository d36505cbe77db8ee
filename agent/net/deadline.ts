// A deadline that no clock jump moves: kept as seconds of the boot clock (/proc/uptime's first
// field, CLOCK_BOOTTIME: it counts from boot, goes on during suspend and is never set) with the
// boot it belongs to, and as wall-clock time for people. Within the same boot only the boot clock
// decides, so setting the date (guest-set-time, NTP, a restored snapshot) neither reverts early
// nor postpones a revert; after a reboot the boot clock says nothing and the live state is the
// one the boot brought up.

export interface Deadline {
  /** Boot id (/proc/sys/kernel/random/boot_id) of the boot the deadline was set in. */
  boot: string;
  /** Seconds since that boot (CLOCK_BOOTTIME) at the deadline. */
  uptime: number;
  /** Wall-clock time of the deadline as set (ISO 8601), for people: never compared. */
  wall: string;
}

export interface BootClock {
  boot(): string;
  /** Seconds since boot. */
  uptime(): number;
  /** Wall clock, ms since the epoch. */
  wallMs(): number;
}

export function bootClock(read: (p: string) => string | null): BootClock {
  return {
    boot: () => (read('/proc/sys/kernel/random/boot_id') ?? '').trim(),
    uptime: () => {
      const s = Number((read('/proc/uptime') ?? '').split(' ')[0]);
      if (!Number.isFinite(s) || s <= 0) throw new Error('cannot read /proc/uptime');
      return s;
    },
    wallMs: () => Date.now(),
  };
}

export function deadlineIn(clock: BootClock, seconds: number): Deadline {
  return { boot: clock.boot(), uptime: clock.uptime() + seconds, wall: new Date(clock.wallMs() + seconds * 1000).toISOString() };
}

/** Seconds left (0 or less: due); null when the server rebooted since the deadline was set. */
export function secondsLeft(clock: BootClock, d: Deadline): number | null {
  if (d.boot !== clock.boot()) return null;
  return d.uptime - clock.uptime();
}

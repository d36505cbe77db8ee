// The serial channel: the virtio-serial port the supervisor opened, inherited as fd 4.
// While no host is connected the port reads EOF at once and polls readable (and hung up) forever:
// stop reading, wait, and read again; never close the port. Nothing reachable from Node tells the
// guest that the host connected (the driver signals it with SIGIO, which needs fcntl(F_SETOWN,
// O_ASYNC), and a level-triggered epoll wakes for the hang-up without end), so the wait is a
// timer: short while hosts come and go (Proxmox connects once per command), longer once the host
// has been away a while, but never past 2 s: the first thing Proxmox sends after connecting is a
// guest-ping it gives up on after 3 s, and the agent reads nothing before its wait ends.

import type { Link } from '../session';
import { pipeOnFd, rawStream } from './raw-stream';

export interface SerialEvents {
  data(chunk: Buffer): void;
  /** The host side closed (EOF) or came back (data arrived). */
  host(connected: boolean): void;
}

export interface SerialPort {
  link: Link;
  start(): void;
}

/**
 * Waits after EOF: doubling from the first to the cap, the long cap once the host is long gone
 * (0.5 wake-ups/s; the long cap plus the reply must stay within Proxmox's 3 s guest-ping).
 */
export const RETRY = { firstMs: 100, capMs: 1000, longCapMs: 2000, longAfterMs: 60_000 };

/** The wait before reading again, GONE_MS after the host left, the last wait having been LAST_MS. */
export function nextRetryMs(lastMs: number | null, goneMs: number): number {
  const cap = goneMs >= RETRY.longAfterMs ? RETRY.longCapMs : RETRY.capMs;
  return lastMs === null ? RETRY.firstMs : Math.min(cap, lastMs * 2);
}

export function openSerialPort(fd: number, events: SerialEvents, now: () => number = Date.now): SerialPort {
  let retryMs: number | null = null;
  let goneSince: number | null = null;
  const stream = rawStream(pipeOnFd(fd), {
    data(chunk) {
      retryMs = null;
      goneSince = null;
      events.host(true);
      events.data(chunk);
    },
    end() {
      events.host(false);
      goneSince ??= now();
      retryMs = nextRetryMs(retryMs, now() - goneSince);
      setTimeout(() => stream.start(), retryMs);
    },
  });
  return { link: stream.link, start: stream.start };
}

// The serial channel: the virtio-serial port the supervisor opened, inherited as fd 4.
// While no host is connected the port reads EOF at once and polls readable (and hung up) forever:
// stop reading, wait, and read again; never close the port. The driver signals the host's coming
// with SIGIO once the port is armed for it (port-signal.ts): then the wait is a long safety poll,
// cut short by the signal. Unarmed (no perl, or a terminal, which signals only data), the wait is
// a timer: short while hosts come and go (Proxmox connects once per command), longer once the host
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
  /** Stops reading and waiting (the tests; the worker holds its port until it exits). */
  close(): void;
}

/** Asks for a call of SIGNALLED when the host comes or goes; DONE(null) once that works. */
export type ArmSignal = (signalled: () => void, done: (err: string | null) => void) => void;

/**
 * Waits after EOF: doubling from the first to the cap, the long cap once the host is long gone
 * (0.5 wake-ups/s; the long cap plus the reply must stay within Proxmox's 3 s guest-ping); with
 * the port signalling, a safety poll only.
 */
export const RETRY = { firstMs: 100, capMs: 1000, longCapMs: 2000, longAfterMs: 60_000, signalledMs: 45_000 };

/** The wait before reading again, GONE_MS after the host left, the last wait having been LAST_MS. */
export function nextRetryMs(lastMs: number | null, goneMs: number, signalled = false): number {
  if (signalled) return RETRY.signalledMs;
  const cap = goneMs >= RETRY.longAfterMs ? RETRY.longCapMs : RETRY.capMs;
  return lastMs === null ? RETRY.firstMs : Math.min(cap, lastMs * 2);
}

export function openSerialPort(fd: number, events: SerialEvents, arm?: ArmSignal, now: () => number = Date.now): SerialPort {
  let retryMs: number | null = null;
  let goneSince: number | null = null;
  let timer: NodeJS.Timeout | null = null;
  let armed = false;
  // A signal that came while a read was under way: the EOF it ends with may be older than the host.
  let signalledWhileReading = false;
  const read = (): void => {
    timer = null;
    signalledWhileReading = false;
    stream.start();
  };
  const stream = rawStream(pipeOnFd(fd), {
    data(chunk) {
      retryMs = null;
      goneSince = null;
      // The chunk first: its ledger record is due before anything else runs.
      events.data(chunk);
      events.host(true);
    },
    end() {
      events.host(false);
      goneSince ??= now();
      retryMs = signalledWhileReading ? RETRY.firstMs : nextRetryMs(retryMs, now() - goneSince, armed);
      timer = setTimeout(read, retryMs);
    },
  });
  const signalled = (): void => {
    if (timer) { clearTimeout(timer); read(); } else signalledWhileReading = true;
  };
  arm?.(signalled, (err) => {
    armed = err === null;
    // A host that came while arming sent its signal to nobody: look now.
    if (armed) signalled();
  });
  return {
    link: stream.link,
    start: read,
    close() { if (timer) clearTimeout(timer); timer = null; stream.close(); },
  };
}

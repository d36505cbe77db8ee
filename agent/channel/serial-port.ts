// The serial channel: the virtio-serial port the supervisor opened, inherited as fd 4.
// While no host is connected the port reads EOF at once and polls readable (and hung up) forever:
// stop reading, wait, and read again; never close the port. The driver signals the host's coming
// with SIGIO once the port is armed for it (port-signal.ts): then the wait is a long safety poll,
// cut short by the signal. Unarmed (no perl, or a terminal, which signals only data), the wait is
// a timer: short while hosts come and go (Proxmox connects once per command), longer once the host
// has been away a while, but never past 2 s: the first thing Proxmox sends after connecting is a
// guest-ping it gives up on after 3 s, and the agent reads nothing before its wait ends.
//
// Armed, the port is also read only when the driver signals data (it does, for every arrival),
// with read(2) called here until it finds nothing, each call announced first (events.reading):
// the reply ledger then holds a record of every read before it happens, so a death between the
// kernel handing over a request and the request's own record is known (the supervisor reopens the
// port). A libuv read would give no such moment: it reads before any of our code runs. While the
// port is being armed it is read the same way every 20 ms; when it cannot be armed (no perl, a
// terminal), through libuv as data comes, and those microseconds are not covered.

import type { Link } from '../session';
import fs = require('fs');
import { pipeOnFd, rawStream } from './raw-stream';

export interface SerialEvents {
  /** ANNOUNCED: reading() was called before the read that got it. */
  data(chunk: Buffer, announced: boolean): void;
  /** A read(2) of the port's own is about to be made (armed only). */
  reading?(): void;
  /** ... and it found nothing (EAGAIN), or the end. */
  drained?(): void;
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
/** Reads per turn of the event loop while data keeps coming (gated): the loop's other work goes on in between. */
const READS_PER_TURN = 32;
/** While the port is being armed (perl runs, tens of ms), it is read this often. */
const ARMING_POLL_MS = 20;

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
  // Read here, announced, while the port can be armed (and while it is being armed); through libuv if it cannot.
  let gated = arm !== undefined;
  let armed = false;
  let closed = false;
  let paused = false;
  // A signal that came while a read was under way: the EOF it ends with may be older than the host.
  let signalledWhileReading = false;
  const gotData = (chunk: Buffer, announced: boolean): void => {
    retryMs = null;
    goneSince = null;
    // The chunk first: its ledger record is due before anything else runs.
    events.data(chunk, announced);
    events.host(true);
  };
  const gotEnd = (): void => {
    events.host(false);
    goneSince ??= now();
    retryMs = signalledWhileReading ? RETRY.firstMs : nextRetryMs(retryMs, now() - goneSince, armed);
    timer = setTimeout(read, retryMs);
  };
  const stream = rawStream(pipeOnFd(fd), { data: (chunk) => gotData(chunk, false), end: gotEnd });
  // Gated, libuv does not read: its buffer is free for the reads made here.
  const buf = stream.buffer;
  let more: NodeJS.Immediate | null = null;
  // Gated: read(2) here until the port has nothing, each read announced first.
  const drain = (): void => {
    more = null;
    if (closed || paused) return;
    if (timer) { clearTimeout(timer); timer = null; }
    if (!gated) { stream.start(); return; }
    for (let i = 0; i < READS_PER_TURN; i++) {
      events.reading?.();
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch {
        // EAGAIN: nothing more now. Armed, the next arrival signals (a safety look after the long
        // wait, also after any other error); still arming, a short poll.
        events.drained?.();
        timer = setTimeout(read, armed ? RETRY.signalledMs : ARMING_POLL_MS);
        return;
      }
      if (n === 0) { events.drained?.(); gotEnd(); return; }
      gotData(buf.subarray(0, n), true);
      if (closed || paused) return;
    }
    more = setImmediate(drain);
  };
  function read(): void {
    timer = null;
    signalledWhileReading = false;
    drain();
  }
  const signalled = (): void => {
    if (gated) { if (!more) drain(); return; }
    if (timer) { clearTimeout(timer); read(); } else signalledWhileReading = true;
  };
  arm?.(signalled, (err) => {
    if (closed) return;
    armed = err === null;
    gated = armed;
    // Armed: a host that came while arming sent its signal to nobody, so look now. Not armed: libuv reads.
    if (!paused && !more) drain();
  });
  const link: Link = {
    write: (data, written) => stream.link.write(data, written),
    onDrain: (cb) => stream.link.onDrain(cb),
    pause: () => { paused = true; if (!gated) stream.link.pause(); },
    resume: () => { paused = false; if (gated) drain(); else stream.link.resume(); },
  };
  return {
    link,
    // Gated reads are synchronous: the first one waits for the event loop, as a libuv read does.
    start: () => { if (gated) more = setImmediate(read); else read(); },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      if (more) clearImmediate(more);
      timer = null;
      stream.close();
    },
  };
}

// Unix socket connections, accepted by the supervisor and handed over unread. Several clients may
// be served at once (qemu-ga serves one at a time); each has its own stream and request order.
// Bounded: at most MAX_CONNECTIONS; a new one beyond that closes the one idle the longest, a
// connection quiet for IDLE_MS is closed, and so is one whose peer stopped reading its replies for
// STALLED_MS (its queued requests and replies would otherwise stay in memory for good).

import type * as net from 'net';
import type { Link } from '../session';
import { rawStream, RawStream, StreamHandle } from './raw-stream';

export const MAX_CONNECTIONS = 16;
const IDLE_MS = 10 * 60_000;
const STALLED_MS = 60_000;
const SWEEP_MS = 30_000;

export interface Served {
  feed(chunk: Buffer): void;
  close(): void;
  /** When input last arrived (ms since the epoch). */
  readonly lastInput: number;
  /** Since when the peer has not been reading its replies (0: it is). */
  readonly blockedSince: number;
}

interface Conn { stream: RawStream; session: Served }

export function createConnectionServer(attach: (link: Link) => Served, now: () => number = Date.now): (socket: net.Socket) => void {
  const open = new Set<Conn>();
  let sweeper: NodeJS.Timeout | null = null;
  const drop = (c: Conn): void => {
    if (!open.delete(c)) return;
    c.session.close();
    c.stream.close();
    if (open.size === 0 && sweeper) { clearInterval(sweeper); sweeper = null; }
  };
  // Runs only while connections are open: an idle agent has no timer for this.
  const sweep = (): void => {
    const t = now();
    for (const c of open) {
      const s = c.session;
      if (t - s.lastInput > IDLE_MS || (s.blockedSince > 0 && t - s.blockedSince > STALLED_MS)) drop(c);
    }
  };
  return (socket) => {
    // Take the libuv handle over from net.Socket (see raw-stream.ts for why).
    const handle = (socket as unknown as { _handle: StreamHandle | null })._handle;
    (socket as unknown as { _handle: null })._handle = null;
    if (!handle) return;
    if (open.size >= MAX_CONNECTIONS) {
      let oldest: Conn | null = null;
      for (const c of open) if (!oldest || c.session.lastInput < oldest.session.lastInput) oldest = c;
      drop(oldest!);
    }
    const conn = {} as Conn;
    conn.stream = rawStream(handle, {
      data: (chunk) => conn.session.feed(chunk),
      end: () => drop(conn),
    });
    conn.session = attach(conn.stream.link);
    open.add(conn);
    if (!sweeper) sweeper = setInterval(sweep, SWEEP_MS);
    conn.stream.start();
  };
}

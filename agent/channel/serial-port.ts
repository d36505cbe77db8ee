// The serial channel: the virtio-serial port the supervisor opened, inherited as fd 4.
// While no host is connected the port reads EOF at once (and polls readable forever): stop
// reading, wait (backing off from 100 ms to 1 s), and read again. Never close the port.

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

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 1000;

export function openSerialPort(fd: number, events: SerialEvents): SerialPort {
  let retryMs = RETRY_MIN_MS;
  const stream = rawStream(pipeOnFd(fd), {
    data(chunk) {
      retryMs = RETRY_MIN_MS;
      events.host(true);
      events.data(chunk);
    },
    end() {
      events.host(false);
      setTimeout(() => stream.start(), retryMs);
      retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
    },
  });
  return { link: stream.link, start: stream.start };
}

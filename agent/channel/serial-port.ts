// The serial channel: the virtio-serial port the supervisor opened, inherited as fd 4.
//
// Node cannot wrap a character device in net.Socket (ERR_INVALID_FD_TYPE), and a blocking read
// would tie up a libuv thread. A libuv pipe handle opened on the fd is event-driven through epoll:
// no threads, no wakeups while the host is connected and quiet. While no host is connected the
// port reads EOF at once and polls readable forever; net.Socket would then close the fd (and the
// kernel would drop unread data), so this module uses the handle directly: on EOF it stops
// reading, waits (backing off to 1 s), and reads again, and never closes the port.
// process.binding is a deprecated interface; it is kept to this one module (checked on Node 16
// and 20 by test/agent/serial-port.test.ts).

import type { Link } from '../session';

interface PipeHandle {
  open(fd: number): number;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteReq, data: Buffer): number;
  onread: (buf: ArrayBuffer | undefined) => void;
  writeQueueSize: number;
}
interface WriteReq { handle: PipeHandle; oncomplete: (status: number) => void; async: boolean }

interface Bindings {
  Pipe: new (type: number) => PipeHandle;
  SOCKET: number;
  WriteWrap: new () => WriteReq;
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
}

function bindings(): Bindings {
  const b = (process as unknown as { binding(n: string): any }).binding;
  const pipe = b('pipe_wrap');
  const stream = b('stream_wrap');
  return {
    Pipe: pipe.Pipe, SOCKET: pipe.constants.SOCKET, WriteWrap: stream.WriteWrap, state: stream.streamBaseState,
    kReadBytesOrError: stream.kReadBytesOrError, kArrayBufferOffset: stream.kArrayBufferOffset, kLastWriteWasAsync: stream.kLastWriteWasAsync,
  };
}

export interface SerialEvents {
  data(chunk: Buffer): void;
  /** The host side closed (EOF) or came back (data arrived). */
  host(connected: boolean): void;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 1000;
const HIGH_WATER = 1 << 20;

export interface SerialPort {
  link: Link;
  start(): void;
}

export function openSerialPort(fd: number, events: SerialEvents): SerialPort {
  const B = bindings();
  const h = new B.Pipe(B.SOCKET);
  const rc = h.open(fd);
  if (rc < 0) throw new Error(`cannot open the serial port descriptor ${fd} as a stream (uv error ${rc})`);
  let retryMs = RETRY_MIN_MS;
  let paused = false;
  let waiting: NodeJS.Timeout | null = null;
  let drainCb: (() => void) | null = null;
  let full = false;

  const arm = (): void => {
    waiting = null;
    if (!paused) h.readStart();
  };
  h.onread = (ab) => {
    const n = B.state[B.kReadBytesOrError];
    if (n < 0 || !ab) {
      // EOF or EIO: no host on the other side. Wait, then look again; never close the port.
      h.readStop();
      events.host(false);
      if (!waiting) waiting = setTimeout(arm, retryMs);
      retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
      return;
    }
    if (n === 0) return;
    retryMs = RETRY_MIN_MS;
    events.host(true);
    events.data(Buffer.from(ab, B.state[B.kArrayBufferOffset], n));
  };

  const link: Link = {
    write(data) {
      const req = new B.WriteWrap();
      req.handle = h;
      req.async = false;
      req.oncomplete = () => {
        if (full && h.writeQueueSize < HIGH_WATER / 2) { full = false; drainCb?.(); }
      };
      const err = h.writeBuffer(req, data);
      if (err < 0) return true; // a failed write loses this reply only; the host resyncs
      if (B.state[B.kLastWriteWasAsync] && h.writeQueueSize >= HIGH_WATER) full = true;
      return !full;
    },
    onDrain: (cb) => { drainCb = cb; },
    pause: () => { paused = true; h.readStop(); },
    resume: () => { paused = false; if (!waiting) h.readStart(); },
  };
  return { link, start: () => { h.readStart(); } };
}

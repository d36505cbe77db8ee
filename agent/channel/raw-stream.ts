// Both channels are read through libuv stream handles used directly, not through net.Socket:
//
// - Node cannot wrap a character device in net.Socket (ERR_INVALID_FD_TYPE), and a blocking read
//   would tie up a libuv thread; a pipe handle opened on the fd is event-driven through epoll,
//   with no threads and no wakeups while the host is connected and quiet.
// - Every read lands in one reused buffer (useUserBuffer): no allocation per read, so a 100 MB
//   request costs no more memory than the framer keeps, and pings create no garbage.
// - On the virtio port, EOF means "no host connected", not "closed": net.Socket would close the
//   fd, and the guest kernel drops unread data on close. Here the caller decides (serial: wait and
//   read again; unix: close).
//
// process.binding is a deprecated interface; it is kept to this one module, and checked on
// Node 16 and 20 by the tests.

import type { Link } from '../session';

export interface StreamHandle {
  readStart(): number;
  readStop(): number;
  writeLatin1String(req: WriteReq, data: string): number;
  useUserBuffer(buf: Buffer): void;
  close(cb?: () => void): void;
  onread: (buf: ArrayBuffer | undefined) => void;
  writeQueueSize: number;
}
interface WriteReq { handle: StreamHandle; oncomplete: (status: number) => void; async: boolean }

interface StreamBindings {
  WriteWrap: new () => WriteReq;
  state: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}

type Binding = (name: string) => any; // eslint-disable-line @typescript-eslint/no-explicit-any
const binding: Binding = (process as unknown as { binding: Binding }).binding;

let cached: StreamBindings | null = null;
function streamBindings(): StreamBindings {
  if (!cached) {
    const s = binding('stream_wrap');
    cached = { WriteWrap: s.WriteWrap, state: s.streamBaseState, kReadBytesOrError: s.kReadBytesOrError, kLastWriteWasAsync: s.kLastWriteWasAsync };
  }
  return cached;
}

/** A libuv pipe handle on an inherited descriptor (the serial port). */
export function pipeOnFd(fd: number): StreamHandle {
  const pipe = binding('pipe_wrap');
  const h = new pipe.Pipe(pipe.constants.SOCKET);
  const rc = h.open(fd);
  if (typeof rc === 'number' && rc < 0) throw new Error(`cannot open descriptor ${fd} as a stream (libuv error ${rc})`);
  return h as StreamHandle;
}

export interface RawStreamEvents {
  data(chunk: Buffer): void;
  /** EOF or a read error (libuv code, e.g. -4095 for EOF). Reading has stopped. */
  end(code: number): void;
}

export interface RawStream {
  link: Link;
  /** The buffer every read lands in: a caller that reads the descriptor itself while this stream does not may use it too. */
  buffer: Buffer;
  start(): void;
  close(): void;
}

const READ_BUFFER = 64 * 1024;
const HIGH_WATER = 1 << 20;

export function rawStream(h: StreamHandle, events: RawStreamEvents): RawStream {
  const B = streamBindings();
  const readBuf = Buffer.alloc(READ_BUFFER);
  let paused = false;
  let reading = false;
  let closed = false;
  let full = false;
  let drainCb: (() => void) | null = null;
  h.readStop();
  h.useUserBuffer(readBuf);
  h.onread = () => {
    const n = B.state[B.kReadBytesOrError];
    if (n < 0) {
      h.readStop();
      reading = false;
      events.end(n);
      return;
    }
    if (n > 0) events.data(readBuf.subarray(0, n));
  };
  const start = (): void => {
    if (closed || paused || reading) return;
    reading = true;
    h.readStart();
  };
  const link: Link = {
    write(data, written) {
      if (closed) return true;
      const req = new B.WriteWrap();
      req.handle = h;
      req.async = false;
      req.oncomplete = () => {
        if (full && h.writeQueueSize < HIGH_WATER / 2) { full = false; drainCb?.(); }
        written?.();
      };
      // A string is written straight from V8's memory when the socket takes it at once, and copied
      // into memory the request owns when it does not. Not a Buffer: each was a malloc that glibc
      // kept, fragmented, after a burst; and libuv would hold only a raw pointer into it until the
      // write completed (a collection in between freed it: EFAULT or stray bytes for the peer).
      // A failed write loses this reply only; a qemu-ga host resyncs after a timeout.
      if (h.writeLatin1String(req, data) < 0) { written?.(); return true; }
      // Only a write that went asynchronous completes through oncomplete.
      if (!B.state[B.kLastWriteWasAsync]) written?.();
      else if (h.writeQueueSize >= HIGH_WATER) full = true;
      return !full;
    },
    onDrain: (cb) => { drainCb = cb; },
    pause: () => { paused = true; if (reading) { reading = false; h.readStop(); } },
    resume: () => { paused = false; start(); },
  };
  return {
    link,
    buffer: readBuf,
    start,
    close() {
      if (closed) return;
      closed = true;
      h.close();
    },
  };
}

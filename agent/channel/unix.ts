// Unix socket connections, accepted by the supervisor and handed over unread. Several clients may
// be served at once (qemu-ga serves one at a time); each has its own stream and request order.

import type * as net from 'net';
import type { Link } from '../session';
import { rawStream, StreamHandle } from './raw-stream';

export const MAX_CONNECTIONS = 16;

export interface Served {
  feed(chunk: Buffer): void;
  close(): void;
}

export function createConnectionServer(attach: (link: Link) => Served): (socket: net.Socket) => void {
  let open = 0;
  return (socket) => {
    // Take the libuv handle over from net.Socket (see raw-stream.ts for why).
    const handle = (socket as unknown as { _handle: StreamHandle | null })._handle;
    (socket as unknown as { _handle: null })._handle = null;
    if (!handle) return;
    if (open >= MAX_CONNECTIONS) { handle.close(); return; }
    open++;
    let session: Served | null = null;
    const stream = rawStream(handle, {
      data: (chunk) => session!.feed(chunk),
      end: () => { open--; session!.close(); stream.close(); },
    });
    session = attach(stream.link);
    stream.start();
  };
}

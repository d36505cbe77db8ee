// Unix socket connections, accepted by the supervisor and handed over unread. Several clients may
// be served at once (qemu-ga serves one at a time); each has its own stream and request order.

import type * as net from 'net';
import type { Link } from '../session';

export const MAX_CONNECTIONS = 16;

export function socketLink(s: net.Socket): Link {
  return {
    write: (data) => s.write(data),
    onDrain: (cb) => { s.on('drain', cb); },
    pause: () => { s.pause(); },
    resume: () => { s.resume(); },
  };
}

export interface ConnectionServer {
  serve(socket: net.Socket, attach: (link: Link) => { feed(b: Buffer): void; close(): void }): void;
}

export function createConnectionServer(): ConnectionServer {
  let open = 0;
  return {
    serve(socket, attach) {
      if (open >= MAX_CONNECTIONS) { socket.destroy(); return; }
      open++;
      const session = attach(socketLink(socket));
      socket.on('data', (d: Buffer) => session.feed(d));
      socket.on('error', () => { /* the peer reset: 'close' follows */ });
      socket.on('close', () => { open--; session.close(); });
      socket.on('end', () => socket.end());
      socket.resume();
    },
  };
}

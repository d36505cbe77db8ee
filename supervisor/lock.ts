// Single instance: an abstract unix socket named after the run directory. The kernel releases it
// when the holder dies, so there is no stale lock to clean up after kill -9. Connections to it are
// dropped unread (it is reachable by any local user, like any abstract socket).

import * as crypto from 'crypto';
import * as net from 'net';
import * as path from 'path';

export function lockName(runDir: string): string {
  const h = crypto.createHash('sha256').update(path.resolve(runDir)).digest('hex').slice(0, 16);
  return `\0phoenix-ga.${h}`;
}

/** Resolves true when this process now holds the lock, false when another process does. */
export function acquireLock(runDir: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((c) => c.destroy());
    server.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve(false) : reject(e)));
    server.listen(lockName(runDir), () => {
      server.unref();
      resolve(true);
    });
  });
}

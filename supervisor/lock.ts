// Single instance: an abstract unix socket named after the run directory. The kernel releases it
// when the holder dies, so there is no stale lock to clean up after kill -9. Connections to it are
// dropped unread (it is reachable by any local user, like any abstract socket).

import * as net from 'net';
import * as path from 'path';

/** FNV-1a, 64 bits: a name, not a secret (and no crypto module on the start-up path). */
function fnv1a64(s: string): string {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(s)) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

export function lockName(runDir: string): string {
  return `\0phoenix-ga.${fnv1a64(path.resolve(runDir))}`;
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

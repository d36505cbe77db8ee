// Single instance: flock(2) on RUN_DIR/lock, a root-owned file in the root-only run directory, so
// only root can take it: a local user can neither open the file nor create anything beside it.
// A lock belongs to the open file, which this process keeps open for its life, so the kernel
// releases it when the holder dies, even by SIGKILL. Node has no flock(), so flock(1) takes it on
// our descriptor, shared with its child, and exits; the lock stays with the descriptor. Node opens
// files close-on-exec, so the worker never holds it.

import { spawnSync } from 'child_process';
import fs = require('fs');
import path = require('path');

/** True when this process now holds the lock, false when another process does; throws why otherwise. */
export function acquireLock(runDir: string): boolean {
  const file = path.join(runDir, 'lock');
  // O_NOFOLLOW: a link planted there is refused (ELOOP), never followed.
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
  const st = fs.fstatSync(fd);
  const tool = ['/usr/bin/flock', '/bin/flock'].find((p) => fs.existsSync(p));
  // No environment: flock(1) needs none, and without LANG it loads no locale (1.2 ms of 6.6 here).
  const r = tool && st.isFile() && st.uid === process.getuid!() ? spawnSync(tool, ['-n', '-x', '3'], { stdio: ['ignore', 'ignore', 'ignore', fd], env: {} }) : null;
  if (r?.status === 0) return true;
  fs.closeSync(fd);
  // flock -n: 1 when another process holds the lock.
  if (r?.status === 1) return false;
  throw new Error(`${file}: ${tool ? `not root's file, or flock(1) failed (${r?.status})` : 'no flock(1)'}`);
}

// The supervisor's guarantee for frozen file systems: thawed at the deadline even if the worker
// is hung, thawed at once if the worker dies while they are frozen, and thawed by the next
// supervisor if this one dies (RUN_DIR/frozen.json says what was frozen).

import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { Logger } from './log';

const FSFREEZE = ['/usr/sbin/fsfreeze', '/sbin/fsfreeze'];

export interface FreezeGuard {
  frozen(mounts: string[], deadlineMs: number | null): void;
  /** Thaws now whatever is recorded as frozen (worker death, supervisor start). */
  thawNow(why: string): void;
}

export function createFreezeGuard(runDir: string, log: Logger, onPause: (paused: boolean) => void): FreezeGuard {
  const file = path.join(runDir, 'frozen.json');
  let mounts: string[] = [];
  let timer: NodeJS.Timeout | null = null;
  const tool = FSFREEZE.find((p) => fs.existsSync(p)) ?? 'fsfreeze';
  const thaw = (list: string[], why: string): void => {
    if (!list.length) return;
    let left = list.length;
    for (const mp of [...list].reverse()) {
      execFile(tool, ['-u', mp], { timeout: 30_000, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } }, (e) => {
        // EINVAL: not frozen any more (the worker thawed it first): fine.
        if (--left === 0) {
          onPause(false);
          log.log(e && !/Invalid argument/.test(String(e)) ? 'error' : 'warn', 'supervisor', `thawed ${list.join(', ')} (${why})${e && !/Invalid argument/.test(String(e)) ? `: ${e.message}` : ''}`);
        }
      });
    }
  };
  const clear = (): void => {
    if (timer) clearTimeout(timer);
    timer = null;
    mounts = [];
    try { fs.unlinkSync(file); } catch { /* none */ }
  };
  return {
    frozen(list, deadlineMs) {
      if (!list.length) { clear(); onPause(false); return; }
      // Stop writing the log before the worker freezes anything (the log may be on a frozen disk).
      onPause(true);
      mounts = list;
      fs.writeFileSync(file, JSON.stringify({ mounts: list, deadlineMs }) + '\n', { mode: 0o600 });
      if (timer) clearTimeout(timer);
      // A little after the worker's own deadline, in case the worker is hung.
      if (deadlineMs !== null) timer = setTimeout(() => { const l = mounts; clear(); thaw(l, 'freeze deadline passed'); }, Math.max(0, deadlineMs - Date.now()) + 5000);
    },
    thawNow(why) {
      let list = mounts;
      if (!list.length) {
        try { list = (JSON.parse(fs.readFileSync(file, 'utf8')) as { mounts: string[] }).mounts ?? []; } catch { list = []; }
      }
      clear();
      thaw(list, why);
    },
  };
}

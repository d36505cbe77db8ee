// The supervisor's guarantee for frozen file systems: thawed at the deadline even if the worker
// is hung, thawed at once if the worker dies while they are frozen, and thawed by the next
// supervisor if this one dies (RUN_DIR/frozen.json says what was frozen). Hence the order: the
// worker asks, the record is made durable, and only then may the worker freeze; a record that
// cannot be written (a full /run) means no freeze, and the supervisor lives on.

import { execFile, execFileSync } from 'child_process';
import fs = require('fs');
import { readJsonFile, writeFileAtomic } from './atomic-file';
import { frozenRecordFile } from './code-cache';
import type { Logger } from './log';

const FSFREEZE = ['/usr/sbin/fsfreeze', '/sbin/fsfreeze'];
const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

export interface FreezeGuard {
  /**
   * A non-empty list: records the freeze to come (durably) and stops the log; returns null when
   * the worker may freeze, else why not. An empty list: the worker thawed.
   */
  frozen(mounts: string[], deadlineMs: number | null): string | null;
  /**
   * Thaws now whatever is recorded as frozen (worker death, supervisor start); SYNC: before this
   * returns, bounded (the supervisor is about to exit).
   */
  thawNow(why: string, sync?: boolean): void;
}

export function createFreezeGuard(runDir: string, log: Logger, onPause: (paused: boolean) => void): FreezeGuard {
  const file = frozenRecordFile(runDir);
  let mounts: string[] = [];
  let timer: NodeJS.Timeout | null = null;
  const tool = FSFREEZE.find((p) => fs.existsSync(p)) ?? 'fsfreeze';
  // EINVAL: not frozen any more (the worker thawed it first): fine.
  const failed = (e: Error | null): boolean => !!e && !/Invalid argument/.test(String(e));
  const thaw = (list: string[], why: string, sync?: boolean): void => {
    let left = list.length;
    let err: Error | null = null;
    const after = (e: Error | null): void => {
      if (failed(e)) err = e;
      if (--left) return;
      onPause(false);
      log.log(err ? 'error' : 'warn', 'supervisor', `thawed ${list.join(', ')} (${why})${err ? `: ${err.message}` : ''}`);
    };
    for (const mp of [...list].reverse()) {
      if (!sync) { execFile(tool, ['-u', mp], { timeout: 30_000, env: ENV }, after); continue; }
      try { execFileSync(tool, ['-u', mp], { timeout: 10_000, env: ENV, stdio: 'pipe' }); after(null); } catch (e) { after(e as Error); }
    }
  };
  const clear = (): void => {
    if (timer) clearTimeout(timer);
    timer = null;
    mounts = [];
    try { fs.unlinkSync(file); } catch { /* none */ }
  };
  const recorded = (): string[] => {
    try { return readJsonFile<{ mounts: string[] }>(file)?.mounts ?? []; } catch { return []; }
  };
  return {
    frozen(list, deadlineMs) {
      if (!list.length) { clear(); onPause(false); return null; }
      try {
        writeFileAtomic(file, JSON.stringify({ mounts: list, deadlineMs }) + '\n');
      } catch (e) {
        const why = `cannot record the freeze of ${list.join(', ')}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
        log.log('error', 'supervisor', `${why}; nothing is frozen`);
        return why;
      }
      // Stop writing the log before the worker freezes anything (the log may be on a frozen disk).
      onPause(true);
      mounts = list;
      if (timer) clearTimeout(timer);
      // A little after the worker's own deadline, in case the worker is hung.
      if (deadlineMs !== null) timer = setTimeout(() => { const l = mounts; clear(); thaw(l, 'freeze deadline passed'); }, Math.max(0, deadlineMs - Date.now()) + 5000);
      return null;
    },
    thawNow(why, sync) {
      const list = mounts.length ? mounts : recorded();
      clear();
      thaw(list, why, sync);
    },
  };
}

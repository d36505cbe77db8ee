// One step of growing a file system, as the reply reports it: what was done, or why nothing was.

import type { RunResult } from '../os/system';

export interface Step {
  step: 'rescan' | 'partition' | 'logical-volume' | 'filesystem';
  done: boolean;
  desc: string;
}

const oneLine = (s: string): string => s.trim().replace(/\s+/g, ' ');

/** What a tool reported on success (stdout), on one line and bounded, for a step's desc. */
export function toolSays(r: RunResult): string {
  return oneLine(r.stdout).slice(0, 400) || oneLine(r.stderr).slice(0, 400);
}

/** Why a tool failed: its stderr (else stdout), the end of it where the error is, bounded. */
export function toolError(r: RunResult): string {
  const text = oneLine(r.stderr) || oneLine(r.stdout);
  const tail = text.length > 400 ? `...${text.slice(-400)}` : text;
  if (r.timedOut) return `timed out${tail ? `: ${tail}` : ''}`;
  return tail || (r.signal ? `killed by ${r.signal}` : `exit status ${r.code}`);
}

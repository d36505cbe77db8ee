// One step of growing a file system, as the reply reports it: what was done, or why nothing was.

import type { RunResult } from '../os/system';

export interface Step {
  step: 'rescan' | 'partition' | 'logical-volume' | 'filesystem';
  done: boolean;
  desc: string;
}

/** A tool's own words, on one line and bounded, for a step's desc or an error. */
export function toolSays(r: RunResult): string {
  const text = `${r.stdout}\n${r.stderr}`.trim().replace(/\s+/g, ' ');
  if (r.timedOut) return `timed out${text ? `: ${text.slice(0, 300)}` : ''}`;
  return text.slice(0, 400) || (r.signal ? `killed by ${r.signal}` : `exit status ${r.code}`);
}

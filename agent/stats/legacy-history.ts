// The history as earlier versions kept it (RUN_DIR/stats.jsonl, one {"boot", "sample"} line per
// sample), turned into a segment once, at the first use after an upgrade: the series and its
// sequence numbers go on, so a panel's cursor stays valid across the upgrade.

import fs = require('fs');
import { encodeSample } from './record';
import type { Sample } from './sample';
import { createSegment, Segment } from './segment';

/**
 * The last unbroken run of at most CAPACITY samples of BOOT in LEGACY, written to a new segment
 * CURRENT; LEGACY is removed. Null when there is no such file or no sample of this boot in it.
 */
export function segmentFromLegacy(legacy: string, current: string, boot: string, capacity: number): Segment | null {
  let text: string;
  try {
    const fd = fs.openSync(legacy, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try { text = fs.readFileSync(fd, 'utf8'); } finally { fs.closeSync(fd); }
  } catch {
    return null;
  }
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    let r: { boot?: unknown; sample?: Sample };
    // A torn last line from a crash, or anything else that is not a sample: skipped.
    try { r = JSON.parse(line); } catch { continue; }
    if (r.boot === boot && typeof r.sample?.seq === 'number') samples.push(r.sample);
  }
  let from = Math.max(0, samples.length - capacity);
  for (let i = samples.length - 1; i > from; i--) if (samples[i].seq !== samples[i - 1].seq + 1) { from = i; break; }
  const keep = samples.slice(from);
  const seg = keep.length ? createSegment(current, boot) : null;
  for (const s of keep) seg!.append(s.seq, encodeSample(s));
  fs.rmSync(legacy, { force: true });
  return seg;
}

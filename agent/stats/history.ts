// The bounded history of samples, so a panel that polled late still gets the series. Kept in
// memory and appended to RUN_DIR/stats.jsonl (tmpfs, root-only), so the next worker generation
// continues it after a crash; a new boot starts a new history.

import * as fs from 'fs';
import type { Sample } from './sample';

export interface History {
  readonly boot: string;
  push(s: Sample): void;
  since(seq: number, max: number): Sample[];
  first(): number | null;
  last(): number | null;
  size(): number;
  capacity(): number;
  setCapacity(n: number): void;
}

export function createHistory(opts: { file: string | null; boot: string; capacity: number; onError(e: Error): void }): History {
  let cap = opts.capacity;
  let items: Sample[] = [];
  let lines = 0;
  if (opts.file) {
    try {
      for (const line of fs.readFileSync(opts.file, 'utf8').split('\n')) {
        if (!line) continue;
        try {
          const r = JSON.parse(line) as { boot: string; sample: Sample };
          if (r.boot === opts.boot && typeof r.sample?.seq === 'number') items.push(r.sample);
        } catch { /* a torn last line from a crash: skip it */ }
      }
      items = items.slice(-cap);
    } catch { /* no history yet */ }
  }
  const rewrite = (): void => {
    if (!opts.file) return;
    const tmp = `${opts.file}.new`;
    fs.writeFileSync(tmp, items.map((sample) => JSON.stringify({ boot: opts.boot, sample }) + '\n').join(''), { mode: 0o600 });
    fs.renameSync(tmp, opts.file);
    lines = items.length;
  };
  try { rewrite(); } catch (e) { opts.onError(e as Error); }
  return {
    boot: opts.boot,
    push(s) {
      items.push(s);
      if (items.length > cap) items = items.slice(-cap);
      if (!opts.file) return;
      try {
        if (lines >= 2 * cap) rewrite();
        else { fs.appendFileSync(opts.file, JSON.stringify({ boot: opts.boot, sample: s }) + '\n', { mode: 0o600 }); lines++; }
      } catch (e) { opts.onError(e as Error); }
    },
    since(seq, max) {
      const out = items.filter((x) => x.seq > seq);
      return out.slice(0, max);
    },
    first: () => items[0]?.seq ?? null,
    last: () => items[items.length - 1]?.seq ?? null,
    size: () => items.length,
    capacity: () => cap,
    setCapacity(n) { cap = n; if (items.length > cap) { items = items.slice(-cap); try { rewrite(); } catch (e) { opts.onError(e as Error); } } },
  };
}

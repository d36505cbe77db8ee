// The bounded history of samples, so a panel that polled late still gets the series. Kept in
// memory and appended to RUN_DIR/stats.jsonl (tmpfs, root-only), so the next worker generation
// continues it after a crash; a new boot starts a new history.

import * as fs from 'fs';
import { RawJson } from '../wire/json-write';
import type { Sample } from './sample';

/** A sample kept as its JSON text: a third of the memory of the object, and no re-serializing. */
export interface Stored { seq: number; json: RawJson }

export interface History {
  readonly boot: string;
  push(s: Sample): void;
  since(seq: number, max: number): RawJson[];
  first(): number | null;
  last(): number | null;
  size(): number;
  capacity(): number;
  setCapacity(n: number): void;
}

export function createHistory(opts: { file: string | null; boot: string; capacity: number; onError(e: Error): void }): History {
  let cap = opts.capacity;
  let items: Stored[] = [];
  let lines = 0;
  if (opts.file) {
    try {
      for (const line of fs.readFileSync(opts.file, 'utf8').split('\n')) {
        if (!line) continue;
        try {
          const r = JSON.parse(line) as { boot: string; sample: Sample };
          if (r.boot === opts.boot && typeof r.sample?.seq === 'number') items.push({ seq: r.sample.seq, json: new RawJson(JSON.stringify(r.sample)) });
        } catch { /* a torn last line from a crash: skip it */ }
      }
      items = items.slice(-cap);
    } catch { /* no history yet */ }
  }
  const rewrite = (): void => {
    if (!opts.file) return;
    const tmp = `${opts.file}.new`;
    fs.writeFileSync(tmp, items.map((x) => line(x.json.text)).join(''), { mode: 0o600 });
    fs.renameSync(tmp, opts.file);
    lines = items.length;
  };
  const line = (json: string): string => `{"boot":${JSON.stringify(opts.boot)},"sample":${json}}\n`;
  try { rewrite(); } catch (e) { opts.onError(e as Error); }
  return {
    boot: opts.boot,
    push(s) {
      const stored = { seq: s.seq, json: new RawJson(JSON.stringify(s)) };
      items.push(stored);
      if (items.length > cap) items = items.slice(-cap);
      if (!opts.file) return;
      try {
        if (lines >= 2 * cap) rewrite();
        else { fs.appendFileSync(opts.file, line(stored.json.text), { mode: 0o600 }); lines++; }
      } catch (e) { opts.onError(e as Error); }
    },
    since(seq, max) {
      return items.filter((x) => x.seq > seq).slice(0, max).map((x) => x.json);
    },
    first: () => items[0]?.seq ?? null,
    last: () => items[items.length - 1]?.seq ?? null,
    size: () => items.length,
    capacity: () => cap,
    setCapacity(n) { cap = n; if (items.length > cap) { items = items.slice(-cap); try { rewrite(); } catch (e) { opts.onError(e as Error); } } },
  };
}

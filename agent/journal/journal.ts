// The journal of mutating commands: exactly once across worker crashes. Each command that carries
// an idempotency key is recorded received -> started -> done | failed, one JSON line per step,
// fsynced before the next step (and so before the side effect). A retry with the same key gets the
// recorded outcome instead of a second run; the same key with other arguments is a conflict. A
// command in flight when a worker died is "interrupted"; retried and interrupted again, it is
// failed for good (a poison command is never run a third time). Secrets never enter it: the
// digest covers the arguments with secret fields left out. Readable with cat.

import * as fs from 'fs';
import * as path from 'path';

export type Step = 'received' | 'started' | 'done' | 'failed' | 'interrupted';

export interface Entry {
  key: string;
  cmd: string;
  /** Digest of the non-secret arguments. */
  digest: string;
  step: Step;
  /** Times this command was in flight when a worker died. */
  interruptions: number;
  result?: unknown;
  error?: { class: string; desc: string };
  at: string;
}

export interface Journal {
  get(key: string): Entry | undefined;
  record(e: Omit<Entry, 'at' | 'interruptions'> & { interruptions?: number }): Entry;
  /** Entries in flight at the last worker death (found at start-up), already marked. */
  readonly recovered: Entry[];
}

export interface JournalOptions {
  dir: string;
  /** Keys kept (the oldest are forgotten beyond this). */
  maxEntries: number;
  /** Commands that finish by rebooting: started + a new boot means done. */
  completesByReboot: (cmd: string) => boolean;
  bootId: string;
}

const FILE = 'journal.jsonl';

export function openJournal(o: JournalOptions): Journal {
  fs.mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const file = path.join(o.dir, FILE);
  const latest = new Map<string, Entry & { boot?: string }>();
  let text = '';
  try { text = fs.readFileSync(file, 'utf8'); } catch { /* a new journal */ }
  let lines = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as Entry & { boot?: string };
      if (typeof e.key === 'string' && typeof e.step === 'string') { latest.delete(e.key); latest.set(e.key, e); lines++; }
    } catch { /* a torn last line from a crash */ }
  }
  let fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
  const append = (e: Entry & { boot: string }): void => {
    fs.writeSync(fd, JSON.stringify(e) + '\n');
    fs.fsyncSync(fd);
    lines++;
  };
  const compact = (): void => {
    const keep = [...latest.values()].slice(-o.maxEntries);
    latest.clear();
    for (const e of keep) latest.set(e.key, e);
    const tmp = `${file}.new`;
    fs.writeFileSync(tmp, keep.map((e) => JSON.stringify(e) + '\n').join(''), { mode: 0o600 });
    const tfd = fs.openSync(tmp, 'r');
    fs.fsyncSync(tfd);
    fs.closeSync(tfd);
    fs.renameSync(tmp, file);
    fs.closeSync(fd);
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_NOFOLLOW);
    lines = keep.length;
  };
  const now = (): string => new Date().toISOString();
  const recovered: Entry[] = [];
  for (const e of [...latest.values()]) {
    if (e.step !== 'received' && e.step !== 'started') continue;
    let next: Entry & { boot: string };
    if (e.step === 'started' && o.completesByReboot(e.cmd) && e.boot !== o.bootId) {
      next = { ...e, step: 'done', result: {}, at: now(), boot: o.bootId };
    } else if (e.step === 'received') {
      // Never started: nothing happened; a retry may run it.
      next = { ...e, step: 'interrupted', at: now(), boot: o.bootId };
    } else if ((e.interruptions ?? 0) >= 1) {
      next = { ...e, step: 'failed', interruptions: (e.interruptions ?? 0) + 1, error: { class: 'GenericError', desc: `the agent died twice while running ${e.cmd} with this idempotency key; it is not run again` }, at: now(), boot: o.bootId };
    } else {
      next = { ...e, step: 'interrupted', interruptions: (e.interruptions ?? 0) + 1, at: now(), boot: o.bootId };
    }
    latest.delete(e.key);
    latest.set(e.key, next);
    append(next);
    recovered.push(next);
  }
  if (lines > 2 * o.maxEntries) compact();
  return {
    recovered,
    get: (key) => latest.get(key),
    record(e) {
      const prev = latest.get(e.key);
      const entry = { interruptions: prev?.interruptions ?? 0, ...e, at: now(), boot: o.bootId };
      latest.delete(e.key);
      latest.set(e.key, entry);
      append(entry);
      if (lines > 2 * o.maxEntries) compact();
      return entry;
    },
  };
}

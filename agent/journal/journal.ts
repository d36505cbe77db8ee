// The journal of mutating commands: exactly once across worker crashes. Each command that carries
// an idempotency key is recorded received -> started -> done | failed, one JSON line per step,
// fsynced before the next step (and so before the side effect). A retry with the same key gets the
// recorded outcome instead of a second run; the same key with other arguments is a conflict. A
// command in flight when a worker died is "interrupted"; retried and interrupted again, it is
// failed for good (a poison command is never run a third time). Secrets never enter it: the
// digest covers the arguments with secret fields left out, and those only as a keyed digest.
// Readable with cat. A state directory that is read-only or full does not stop the worker: the
// recorded outcomes are still answered, and ready() says why nothing new may run (journal-file.ts).

import fs = require('fs');
import path = require('path');
import { FILE, JournalProblem, openJournalFile } from './journal-file';
import { SECRET_KEY_FILE, secretDigester } from './secret-digest';

export type Step = 'received' | 'started' | 'done' | 'failed' | 'interrupted';

export interface Entry {
  key: string;
  cmd: string;
  /** Digest of the non-secret arguments (and a keyed digest of the secret ones after a dot). */
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
  /** Records a step; throws when it could not be written whole (the entry is kept in memory). */
  record(e: Omit<Entry, 'at' | 'interruptions'> & { interruptions?: number }): Entry;
  /** Entries in flight at the last worker death (found at start-up), already marked. */
  readonly recovered: Entry[];
  /** Null when a new command may run under its key; else why not (read-only, no space, ...). */
  ready(): JournalProblem | null;
  /** A keyed digest of secret text, 32 hex digits (throws when the state directory has no key). */
  secretDigest(text: string): string;
}

export interface JournalOptions {
  dir: string;
  /** Keys kept (the oldest are forgotten beyond this). */
  maxEntries: number;
  /** Commands that finish by rebooting: started + a new boot means done. */
  completesByReboot: (cmd: string) => boolean;
  bootId: string;
  /** Called at open with the journal's state, then at each change (null: it takes records). */
  onProblem?: (p: JournalProblem | null) => void;
}

export function openJournal(o: JournalOptions): Journal {
  const file = openJournalFile(o.dir, o.onProblem ?? (() => undefined));
  const latest = new Map<string, Entry & { boot?: string }>();
  let lines = 0;
  for (const line of file.lines) {
    try {
      const e = JSON.parse(line) as Entry & { boot?: string };
      if (typeof e.key === 'string' && typeof e.step === 'string') { latest.delete(e.key); latest.set(e.key, e); lines++; }
    } catch { /* a record glued to a cut one by an older version */ }
  }
  const append = (e: Entry & { boot: string }): void => {
    file.append(JSON.stringify(e));
    lines++;
  };
  const compact = (): void => {
    const keep = [...latest.values()].slice(-o.maxEntries);
    if (!file.replace(keep.map((e) => JSON.stringify(e)))) return;
    latest.clear();
    for (const e of keep) latest.set(e.key, e);
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
    // Unwritable (read-only): kept in memory, and found again by the next worker.
    try { append(next); } catch { /* reported by the file */ }
    recovered.push(next);
  }
  if (lines > 2 * o.maxEntries) compact();
  return {
    recovered,
    get: (key) => latest.get(key),
    ready: () => file.ready(),
    secretDigest: secretDigester(o.dir),
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

/**
 * Forgets every record and the secret-digest key of DIR (before the journal is opened): another
 * machine's idempotency keys must not answer for this one. Throws when a file stays.
 */
export function forgetJournal(dir: string): void {
  for (const name of [FILE, SECRET_KEY_FILE]) {
    try { fs.unlinkSync(path.join(dir, name)); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
  }
  let fd: number;
  try { fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY); } catch { return; }
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

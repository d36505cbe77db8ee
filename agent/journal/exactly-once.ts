// Runs mutating commands one at a time, in arrival order, across every connection, and with the
// journal when the request carries an idempotency key: a retry gets the recorded outcome, a
// retry that arrives while the first run is still going waits for it (never two runs at once).
// Without a usable journal (a read-only or full state directory) a command with a key is refused
// before it runs; its recorded outcome is still answered.

import type * as cryptoModule from 'crypto';
import { QgaError } from '../wire/reply';
import type { Journal } from './journal';

export interface MutationRequest {
  cmd: string;
  key: string | undefined;
  /** Arguments without the secret ones. */
  publicArgs: Record<string, unknown>;
  /** The secret ones: they reach the journal only as a keyed digest, to tell a reuse apart. */
  secretArgs?: Record<string, unknown>;
  run(): Promise<unknown>;
  /** Told when the side effect may begin (journaled as started) and when the outcome is recorded. */
  progress?(step: 'started' | 'done' | 'failed'): void;
}

/** Runs R, telling its progress: the outcome of a run without a key is known only to this process. */
async function tracked(r: MutationRequest): Promise<unknown> {
  r.progress?.('started');
  try {
    const result = await r.run();
    r.progress?.('done');
    return result;
  } catch (e) {
    r.progress?.('failed');
    throw e;
  }
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return typeof v === 'bigint' ? v.toString() : JSON.stringify(v) ?? 'null';
}

export function argsDigest(cmd: string, publicArgs: Record<string, unknown>): string {
  const crypto = require('crypto') as typeof cryptoModule;
  return crypto.createHash('sha256').update(`${cmd}\n${canonical(publicArgs)}`).digest('hex').slice(0, 32);
}

export interface ExactlyOnce {
  run(r: MutationRequest): Promise<unknown>;
}

export function createExactlyOnce(journal: Journal | null | (() => Journal), crashAt?: (step: string, cmd: string) => void): ExactlyOnce {
  // A function: the journal is opened at the first keyed command (the worker's start opens it after ready).
  const open = (): Journal => (typeof journal === 'function' ? journal() : journal!);
  const point = crashAt ?? (() => undefined);
  let chain: Promise<unknown> = Promise.resolve();
  const inFlight = new Map<string, { digest: string; p: Promise<unknown> }>();
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const p = chain.then(f, f);
    chain = p.catch(() => undefined);
    return p;
  };
  const errorOf = (e: unknown): { class: string; desc: string } =>
    e instanceof QgaError ? { class: e.cls, desc: e.desc } : { class: 'GenericError', desc: `internal error: ${e instanceof Error ? e.name : 'unknown'}` };

  const unavailable = (cmd: string, why: string): QgaError =>
    new QgaError('GenericError', `${cmd} was not run: its idempotency key needs the journal, which is unavailable: ${why}`);
  const digestOf = (r: MutationRequest): string => {
    const pub = argsDigest(r.cmd, r.publicArgs);
    if (!r.secretArgs || !Object.keys(r.secretArgs).length) return pub;
    try {
      return `${pub}.${open().secretDigest(canonical(r.secretArgs))}`;
    } catch (e) {
      throw unavailable(r.cmd, `no digest key for secret arguments (${(e as Error).message})`);
    }
  };

  const once = async (r: MutationRequest & { key: string }, digest: string): Promise<unknown> => {
    const j = open();
    const seen = j.get(r.key);
    if (seen && (seen.digest !== digest || seen.cmd !== r.cmd)) {
      throw new QgaError('GenericError', `idempotency key '${r.key}' was already used for ${seen.cmd} with other arguments; use a new key for a new request`);
    }
    if (seen?.step === 'done') { r.progress?.('done'); return seen.result; }
    if (seen?.step === 'failed') { r.progress?.('failed'); throw new QgaError(seen.error!.class as 'GenericError', seen.error!.desc); }
    const problem = j.ready();
    if (problem) throw unavailable(r.cmd, problem.reason);
    try {
      j.record({ key: r.key, cmd: r.cmd, digest, step: 'received' });
      point('received', r.cmd);
      j.record({ key: r.key, cmd: r.cmd, digest, step: 'started' });
      r.progress?.('started');
      point('started', r.cmd);
    } catch (e) {
      // Fail closed: without a journal entry the side effect must not happen.
      throw new QgaError('GenericError', `the journal cannot be written (${(e as NodeJS.ErrnoException).code ?? 'error'}): ${r.cmd} was not run`);
    }
    let result: unknown;
    try {
      result = await r.run();
    } catch (e) {
      recordOutcome(() => j.record({ key: r.key, cmd: r.cmd, digest, step: 'failed', error: errorOf(e) }));
      r.progress?.('failed');
      throw e;
    }
    point('effect', r.cmd);
    recordOutcome(() => j.record({ key: r.key, cmd: r.cmd, digest, step: 'done', result: result ?? {} }));
    r.progress?.('done');
    point('done', r.cmd);
    return result;
  };
  // The side effect happened: its answer goes out even if the disk took not even the reserve's
  // room (the entry stays in memory for this worker's retries; journal-file.ts keeps that rare).
  const recordOutcome = (write: () => void): void => { try { write(); } catch { /* see above */ } };

  return {
    run(r) {
      if (r.key === undefined || !journal) return serial(() => tracked(r));
      const key = r.key;
      let digest: string;
      try { digest = digestOf(r); } catch (e) { return Promise.reject(e); }
      const running = inFlight.get(key);
      if (running) {
        if (running.digest !== digest) return Promise.reject(new QgaError('GenericError', `idempotency key '${key}' is in use by a running request with other arguments`));
        return running.p;
      }
      const p = serial(() => once({ ...r, key }, digest)).finally(() => inFlight.delete(key));
      inFlight.set(key, { digest, p });
      return p;
    },
  };
}

// The reply ledger: what a worker has read from the serial channel and not yet answered, kept in a
// file of the run directory that the supervisor opens for each generation (the worker's fd 5).
// The supervisor holds the port, so the host never sees a worker die; without this a request in
// flight would never be answered and libvirt, which matches replies by order and waits without a
// timeout, would hang. When a worker dies, the supervisor reads the file and answers each owed
// request once, in order, before the next generation reads anything: an error that names the
// restart and what is known of the outcome. The supervisor does not read the file otherwise.
//
// Records are text lines (the worker appends each with one write(2), so a record is in the kernel
// before the step it announces; the file is emptied whenever nothing is owed or being written, and
// rewritten with only what is still open once it passes 64 KiB):
//   <                   the port is being read (on an armed port, written before the read(2));
//                       what the read got is not recorded yet
//   .                   ... they are (the "+" lines before it)
//   +SEQ FLAGS CMD ID   owed: request SEQ was read (FLAGS: d delimited, n no reply on success,
//                       m mutating, k idempotency key; or -), CMD its command, ID its id as JSON
//   >SEQ                its side effect may have begun (journaled as started)
//   !SEQ / xSEQ         it completed / it failed (the outcome is known, the reply not yet sent)
//   w                   replies are being written to the port
//   =SEQ                ... and are: every reply up to SEQ is in the kernel
//   ~SEQ                ... and the reply to SEQ alone is (a ping answered ahead of a slow command)
//   _SEQ                no reply was due up to SEQ (commands that answer only on failure)
// A death between "<" and "." lost requests nobody can name, and one between "w" and its "=" or
// "~" may have sent replies the supervisor would send again: either would leave a host that
// matches replies by order (libvirt) waiting forever or reading each reply as the next request's.
// The ledger says so (ambiguous), and the supervisor then closes and reopens the port: the host
// sees the agent go and come back (libvirt fails the call in flight and synchronises again), as
// it does when qemu-ga restarts. On an armed port the worker writes "<" before each read(2) it
// makes (agent/channel/serial-port.ts); unarmed, what is left is the microseconds between read(2)
// returning and the "<" being written.
// The worker imports the encoder; the supervisor never imports anything from agent/.

import fs = require('fs');
import path = require('path');

export const LEDGER_FD = 5;
export const LEDGER_FILE = 'replies-owed';
/** Read at most this much of the file after a death (1024 queued requests with long ids fit). */
export const LEDGER_MAX_BYTES = 4 << 20;

export interface OwedRequest {
  seq: number;
  cmd: string;
  delimited: boolean;
  noReply: boolean;
  mutating: boolean;
  keyed: boolean;
  /** The request's id as JSON text, or null when it had none. */
  id: string | null;
}

type Phase = 'queued' | 'started' | 'done' | 'failed';

/** Longest id echoed in an owed reply; a longer one is left out (the reply has no id then). */
const MAX_ID_TEXT = 4096;
const CMD = /^[A-Za-z0-9_-]{1,64}$/;

/** Worker side: one record line. */
export function owedRecord(r: OwedRequest): string {
  const flags = `${r.delimited ? 'd' : ''}${r.noReply ? 'n' : ''}${r.mutating ? 'm' : ''}${r.keyed ? 'k' : ''}` || '-';
  const id = r.id !== null && r.id.length <= MAX_ID_TEXT && !/[\n\r]/.test(r.id) ? r.id : '';
  return `+${r.seq} ${flags} ${CMD.test(r.cmd) ? r.cmd : '?'} ${id}\n`;
}

export function stepRecord(seq: number, step: 'started' | 'done' | 'failed'): string {
  return `${step === 'started' ? '>' : step === 'done' ? '!' : 'x'}${seq}\n`;
}

/** A write completed (ALONE: the reply to SEQ only); or, with NOTHING_WRITTEN, nothing was due. */
export function paidRecord(seq: number, alone = false, nothingWritten = false): string {
  return `${nothingWritten ? '_' : alone ? '~' : '='}${seq}\n`;
}

export const READING_RECORD = '<\n';
export const FRAMED_RECORD = '.\n';
export const WRITING_RECORD = 'w\n';

/** Supervisor side: the ledger file of the run directory, opened once, emptied for each generation. */
export function openLedgerFile(runDir: string): number {
  const c = fs.constants;
  const fd = fs.openSync(path.join(runDir, LEDGER_FILE), c.O_RDWR | c.O_APPEND | c.O_CREAT | c.O_NOFOLLOW, 0o600);
  fs.ftruncateSync(fd, 0);
  return fd;
}

/** The records a generation left, once it is dead; the file is emptied for the next one. */
export function readLedgerFile(fd: number): ReplyLedger {
  const ledger = new ReplyLedger();
  const buf = Buffer.alloc(Math.min(LEDGER_MAX_BYTES, fs.fstatSync(fd).size));
  const n = fs.readSync(fd, buf, 0, buf.length, 0);
  ledger.feed(buf.toString('latin1', 0, n) + '\n');
  fs.ftruncateSync(fd, 0);
  return ledger;
}

/** Supervisor side: the owed requests of one worker generation, from its records. */
export class ReplyLedger {
  readonly #owed = new Map<number, OwedRequest & { phase: Phase }>();
  #partial = '';
  #reading = false;
  #writing = 0;

  feed(text: string): void {
    const lines = (this.#partial + text).split('\n');
    this.#partial = lines.pop()!;
    if (this.#partial.length > 2 * MAX_ID_TEXT) this.#partial = '';
    for (const line of lines) this.#record(line);
  }

  get size(): number {
    return this.#owed.size;
  }

  /** Why the dead worker's exchange with the host cannot be known from the records, or null. */
  get ambiguous(): 'reading' | 'writing' | null {
    return this.#reading ? 'reading' : this.#writing > 0 ? 'writing' : null;
  }

  #record(line: string): void {
    switch (line) {
      case '<': this.#reading = true; return;
      case '.': this.#reading = false; return;
      case 'w': this.#writing++; return;
    }
    const seq = parseInt(line.slice(1), 10);
    if (!(seq >= 0)) return;
    switch (line[0]) {
      case '+': {
        const m = /^\+\d+ (\S+) (\S+) ?(.*)$/.exec(line);
        if (!m) return;
        const f = m[1];
        this.#owed.set(seq, { seq, cmd: m[2], delimited: f.includes('d'), noReply: f.includes('n'), mutating: f.includes('m'), keyed: f.includes('k'), id: m[3] || null, phase: 'queued' });
        return;
      }
      case '>': case '!': case 'x': {
        const e = this.#owed.get(seq);
        if (e) e.phase = line[0] === '>' ? 'started' : line[0] === '!' ? 'done' : 'failed';
        return;
      }
      case '=': case '_':
        if (line[0] === '=') this.#writing = Math.max(0, this.#writing - 1);
        for (const k of this.#owed.keys()) if (k <= seq) this.#owed.delete(k);
        return;
      case '~':
        this.#writing = Math.max(0, this.#writing - 1);
        this.#owed.delete(seq);
    }
  }

  /**
   * The replies owed after the worker ended (WHY says how, e.g. "was killed by SIGKILL and was
   * restarted"), in order, as latin1 text for the channel; the ledger is empty after.
   */
  takeReplies(why: string): string {
    let out = '';
    for (const e of [...this.#owed.values()].sort((a, b) => a.seq - b.seq)) {
      // A command that answers only when it fails (guest-shutdown) and did not fail: no reply.
      if (e.noReply && (e.phase === 'started' || e.phase === 'done')) continue;
      const error = `{"class":"GenericError","desc":${JSON.stringify(describe(e, why))}}`;
      out += `${e.delimited ? '\xff' : ''}{${e.id !== null ? `"id":${e.id},` : ''}"error":${error}}\n`;
    }
    this.#owed.clear();
    this.#partial = '';
    return out;
  }
}

function describe(e: OwedRequest & { phase: Phase }, why: string): string {
  const cmd = e.cmd === '?' ? 'the request' : e.cmd;
  const restart = `the agent's worker process ${why}`;
  switch (e.phase) {
    case 'queued':
      // Reads are not tracked step by step; a change is, so "not begun" is known for it.
      if (!e.mutating) return `${cmd} did not complete: ${restart}; send it again`;
      return `${cmd} was not run: ${restart} before it began; it is safe to send it again`;
    case 'started':
      return `the outcome of ${cmd} is unknown: ${restart} while it ran${e.keyed ? '; send it again with the same idempotency-key to learn the outcome' : ''}`;
    case 'done':
      return `${cmd} completed, but ${restart} before its reply was sent`;
    case 'failed':
      return `${cmd} failed, and ${restart} before the error was sent${e.keyed ? '; send it again with the same idempotency-key to see the error' : ''}`;
  }
}

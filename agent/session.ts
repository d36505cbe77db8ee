// One byte stream (a unix connection, or the serial port): bytes in through the framer, requests
// run one at a time in arrival order, replies out in the same order, one line each. Input is
// paused while too many requests or request bytes wait, or while the peer does not read its
// replies. On the serial channel every request read is recorded in the reply ledger before it
// runs, so the supervisor can answer it if this worker dies first.

import type { Dispatcher, Outcome, Parsed } from './dispatcher';
import type { LedgerWriter } from './reply-ledger';
import type { OwedRequest } from '../supervisor/reply-ledger';
import { isRequestText } from './wire/envelope';
import { FrameLexer, FrameLimits } from './wire/lexer';
import { writeJson } from './wire/json-write';

export interface Link {
  /**
   * Writes latin1 text (one byte per char); WRITTEN is called once all of it is in the kernel.
   * False when the peer is not keeping up (wait for onDrain).
   */
  write(data: string, written?: () => void): boolean;
  onDrain(cb: () => void): void;
  pause(): void;
  resume(): void;
}

type Job = { seq: number; parsed: Parsed; bytes: number } | { seq: number; error: string; bytes: 0 };

export interface SessionOptions {
  limits: FrameLimits;
  onBusy(busy: boolean): void;
  /** The serial channel's reply ledger; none for unix connections (a dying worker closes them). */
  ledger?: LedgerWriter;
  /** The test worker's crash points: 'read' (a chunk read, not framed), 'sent' (replies written, not recorded as sent). */
  crashAt?: (step: string, cmd: string) => void;
}

/** Requests waiting at most (qemu-ga runs one at a time too); request bytes at most one request more than the limit. */
const MAX_QUEUED = 1024;
/**
 * Replies are handed to the link once this much has gathered, not once per read: a read of
 * pipelined requests (2,600 guest-info in 64 KiB) made one write of 10 MB, and a worker killed
 * during it left every one of those replies in doubt (the supervisor answered them again).
 */
const FLUSH_BYTES = 64 << 10;
/**
 * Answered at once, ahead of a command that is still running: they change nothing, and clients
 * match their replies by id. A host that checks the agent is alive (Proxmox pings with a 3 s
 * timeout) gets its answer during a long fstrim or freeze.
 */
const OVERTAKE = new Set(['guest-ping', 'guest-sync', 'guest-sync-delimited']);

export class Session {
  private lexer: FrameLexer;
  private readonly queue: Job[] = [];
  private queuedBytes = 0;
  private running = false;
  /** A command returned a promise and has not settled. */
  private waiting = false;
  private paused = false;
  private closed = false;
  private out = '';
  private waitingDrain = false;
  private seq = 0;
  /** Requests framed by the current push, not yet in the ledger. */
  private fresh: OwedRequest[] = [];
  /** Highest job whose reply (or its absence) is decided, and the highest handed to the link. */
  private decided = 0;
  private flushed = 0;
  private writesInFlight = 0;
  /** When output last blocked on a peer that does not read (0: not blocked), and when input last came. */
  blockedSince = 0;
  lastInput = Date.now();

  constructor(private readonly link: Link, private readonly dispatcher: Dispatcher, private readonly o: SessionOptions) {
    this.lexer = this.newLexer();
    link.onDrain(() => { this.waitingDrain = false; this.blockedSince = 0; this.drain(); });
  }

  /** ANNOUNCED: the read that got CHUNK was recorded in the ledger before it was made (an armed serial port). */
  feed(chunk: Buffer, announced = false): void {
    const ledger = this.o.ledger;
    if (ledger) {
      // Before anything else: a death from here to owe() is known to have lost what the chunk held.
      if (!announced) ledger.reading();
      this.o.crashAt?.('read', 'channel');
    }
    this.lastInput = Date.now();
    this.lexer.push(chunk);
    if (ledger) {
      ledger.owe(this.fresh);
      this.fresh = [];
    }
    if (!this.paused && (this.queue.length > MAX_QUEUED || this.queuedBytes > this.o.limits.maxBytes)) {
      this.paused = true;
      this.link.pause();
    }
    this.drain();
  }

  /** The host side went away (serial): a partial request from it is garbage now. */
  resetFraming(): void {
    this.lexer = this.newLexer();
  }

  private newLexer(): FrameLexer {
    return new FrameLexer({
      message: (text) => this.enqueue(text),
      error: (error) => this.queue.push({ seq: ++this.seq, error, bytes: 0 }),
      isRequest: isRequestText,
    }, this.o.limits);
  }

  private enqueue(text: Buffer): void {
    const parsed = this.dispatcher.parse(text);
    const seq = ++this.seq;
    this.queue.push({ seq, parsed, bytes: text.length });
    this.queuedBytes += text.length;
    if (this.o.ledger) this.fresh.push(owedOf(seq, parsed));
  }

  /** The peer went away: forget the partial request; queued replies are dropped. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
  }

  private drain(): void {
    if (this.waiting && !this.waitingDrain && !this.closed) this.overtake();
    if (this.running || this.closed) return;
    this.running = true;
    while (this.queue.length && !this.waitingDrain && !this.closed) {
      const job = this.queue.shift()!;
      this.queuedBytes -= job.bytes;
      const ledger = this.o.ledger;
      const r = 'error' in job ? this.dispatcher.lexicalError(job.error)
        : this.dispatcher.run(job.parsed, ledger && ((step) => ledger.step(job.seq, step)));
      if (r instanceof Promise) {
        this.flush();
        this.o.onBusy(true);
        this.waiting = true;
        r.then((o) => { this.waiting = false; this.o.onBusy(false); this.emit(job.seq, o); this.running = false; this.flush(); this.drain(); });
        this.overtake();
        return;
      }
      this.emit(job.seq, r);
      if (this.out.length >= FLUSH_BYTES) this.flush();
    }
    this.running = false;
    this.flush();
    if (this.paused && this.queue.length < MAX_QUEUED / 2 && this.queuedBytes <= this.o.limits.maxBytes / 2) {
      this.paused = false;
      this.link.resume();
    }
  }

  /** Pings and syncs waiting behind a running command are answered now (see OVERTAKE). */
  private overtake(): void {
    for (let i = 0; i < this.queue.length;) {
      const job = this.queue[i];
      const req = 'parsed' in job ? job.parsed.request : undefined;
      const r = req && OVERTAKE.has(req.execute) ? this.dispatcher.run((job as { parsed: Parsed }).parsed) : undefined;
      if (!r || r instanceof Promise) { i++; continue; }
      this.queue.splice(i, 1);
      this.queuedBytes -= job.bytes;
      const ledger = this.o.ledger;
      ledger?.writing();
      this.link.write((r.delimited ? '\xff' : '') + r.line + '\n', ledger && (() => { this.o.crashAt?.('sent', 'channel'); ledger.paidOne(job.seq); }));
    }
  }

  private emit(seq: number, o: Outcome): void {
    this.decided = seq;
    if (!o) return;
    // Replies are pure ASCII, so latin1 carries them byte for byte, and "\xff" is the 0xFF byte.
    this.out += (o.delimited ? '\xff' : '') + o.line + '\n';
  }

  private flush(): void {
    const upTo = this.decided;
    if (!this.out || this.closed) {
      this.out = '';
      // Nothing to send (a command that answers only on failure): paid once earlier writes are.
      if (upTo > this.flushed && this.writesInFlight === 0) { this.flushed = upTo; this.o.ledger?.paid(upTo, false); }
      return;
    }
    const data = this.out;
    this.out = '';
    this.flushed = upTo;
    const ledger = this.o.ledger;
    this.writesInFlight++;
    ledger?.writing();
    const ok = this.link.write(data, () => {
      this.writesInFlight--;
      this.o.crashAt?.('sent', 'channel');
      // Writes complete in order: the last one done pays for everything decided so far.
      ledger?.paid(this.writesInFlight === 0 ? this.decided : upTo);
      if (this.writesInFlight === 0) this.flushed = this.decided;
    });
    if (!ok) { this.waitingDrain = true; this.blockedSince = Date.now(); }
  }
}

/** What the ledger keeps of a parsed request: enough to answer it without this process. */
function owedOf(seq: number, p: Parsed): OwedRequest {
  if (!p.request) return { seq, cmd: '?', delimited: false, noReply: false, mutating: false, keyed: false, id: null };
  const c = p.command;
  const { id } = p.request;
  return {
    seq,
    cmd: p.request.execute,
    delimited: c?.delimited === true,
    noReply: c?.successResponse === false,
    mutating: c?.mutating === true,
    keyed: Object.prototype.hasOwnProperty.call(p.request.args, 'idempotency-key'),
    id: id.present ? writeJson(id.value) : null,
  };
}

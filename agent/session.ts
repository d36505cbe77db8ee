// One byte stream (a unix connection, or the serial port): bytes in through the framer, requests
// run one at a time in arrival order, replies out in the same order, one line each. Input is
// paused while too many requests wait or while the peer does not read its replies.

import type { Dispatcher, Outcome } from './dispatcher';
import { isRequestText } from './wire/envelope';
import { FrameLexer, FrameLimits } from './wire/lexer';

export interface Link {
  /** Writes latin1 text (one byte per char); false when the peer is not keeping up (wait for onDrain). */
  write(data: string): boolean;
  onDrain(cb: () => void): void;
  pause(): void;
  resume(): void;
}

type Job = { text: Buffer } | { error: string };

const MAX_QUEUED = 1024;

export class Session {
  private lexer: FrameLexer;
  private readonly queue: Job[] = [];
  private running = false;
  private paused = false;
  private closed = false;
  private out = '';
  private waitingDrain = false;

  constructor(private readonly link: Link, private readonly dispatcher: Dispatcher, private readonly limits: FrameLimits,
    private readonly onBusy: (busy: boolean) => void) {
    this.lexer = this.newLexer();
    link.onDrain(() => { this.waitingDrain = false; this.drain(); });
  }

  feed(chunk: Buffer): void {
    this.lexer.push(chunk);
    if (this.queue.length > MAX_QUEUED && !this.paused) { this.paused = true; this.link.pause(); }
    this.drain();
  }

  /** The host side went away (serial): a partial request from it is garbage now. */
  resetFraming(): void {
    this.lexer = this.newLexer();
  }

  private newLexer(): FrameLexer {
    return new FrameLexer({
      message: (text) => this.queue.push({ text }),
      error: (error) => this.queue.push({ error }),
      isRequest: isRequestText,
    }, this.limits);
  }

  /** The peer went away: forget the partial request; queued replies are dropped. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
  }

  private drain(): void {
    if (this.running || this.closed) return;
    this.running = true;
    while (this.queue.length && !this.waitingDrain && !this.closed) {
      const job = this.queue.shift()!;
      const r = 'error' in job ? this.dispatcher.lexicalError(job.error) : this.dispatcher.dispatch(job.text);
      if (r instanceof Promise) {
        this.flush();
        this.onBusy(true);
        r.then((o) => { this.onBusy(false); this.emit(o); this.running = false; this.flush(); this.drain(); });
        return;
      }
      this.emit(r);
    }
    this.running = false;
    this.flush();
    if (this.paused && this.queue.length < MAX_QUEUED / 2) { this.paused = false; this.link.resume(); }
  }

  private emit(o: Outcome): void {
    if (!o) return;
    // Replies are pure ASCII, so latin1 carries them byte for byte, and "\xff" is the 0xFF byte.
    this.out += (o.delimited ? '\xff' : '') + o.line + '\n';
  }

  private flush(): void {
    if (!this.out || this.closed) { this.out = ''; return; }
    const data = this.out;
    this.out = '';
    if (!this.link.write(data)) this.waitingDrain = true;
  }
}

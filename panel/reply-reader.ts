// Cuts the agent's byte stream into lines and measures each line's JSON shape while its bytes
// arrive, so a line past a limit is dropped before it is held whole or parsed: JSON.parse of 16 MiB
// of "{}," costs half a GiB and five seconds, and of a deep nest a stack overflow. The reader hands
// out a line only while a consumer wants one; the rest of a chunk waits (the socket is paused).

export interface ReplyLimits {
  /** Bytes of one line (a reply). */
  maxBytes: number;
  /** Nesting of arrays and objects. */
  maxDepth: number;
  /** Arrays and objects in one line. */
  maxContainers: number;
  /** Values in one line (commas, plus the containers). */
  maxValues: number;
}

export const DEFAULT_LIMITS: ReplyLimits = { maxBytes: 16 << 20, maxDepth: 64, maxContainers: 250_000, maxValues: 2_000_000 };

export type OverLimit = 'bytes' | 'depth' | 'containers' | 'values';
/** A whole line, or word that the line went over a limit (sent once, as soon as it does). */
export type Line = { ok: true; line: Buffer } | { ok: false; over: OverLimit; bytes: number };
/** Returns whether it wants the next line now. */
export type Consumer = (l: Line) => boolean;

export class ReplyReader {
  private parts: Buffer[] = [];
  private len = 0;
  private depth = 0;
  private containers = 0;
  private values = 0;
  private inString = false;
  private escaped = false;
  private over: OverLimit | null = null;
  /** Bytes received but not yet cut into lines: at most one chunk, since reading stops meanwhile. */
  private rest: Buffer | null = null;
  private consumer: Consumer | null = null;
  private limits: ReplyLimits = DEFAULT_LIMITS;

  /** Lines go to CONSUMER, measured against LIMITS, until it returns false or is replaced. */
  want(consumer: Consumer | null, limits: ReplyLimits = DEFAULT_LIMITS): void {
    this.consumer = consumer;
    this.limits = limits;
    this.drain();
  }

  get wanting(): boolean {
    return this.consumer !== null;
  }

  push(chunk: Buffer): void {
    this.rest = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.drain();
  }

  /** A new connection: nothing of the old stream is kept. */
  reset(): void {
    this.rest = null;
    this.startLine();
  }

  private drain(): void {
    while (this.rest && this.consumer) {
      const chunk = this.rest;
      const nl = chunk.indexOf(0x0a);
      this.rest = nl >= 0 && nl + 1 < chunk.length ? chunk.subarray(nl + 1) : null;
      this.take(nl >= 0 ? chunk.subarray(0, nl) : chunk);
      if (nl < 0) return;
      const line = this.over ? null : this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.len);
      this.startLine();
      // A line over a limit was reported when it went over; its end is only the end of skipping.
      if (line && this.consumer && !this.consumer({ ok: true, line })) this.consumer = null;
    }
  }

  private startLine(): void {
    this.parts = [];
    this.len = 0;
    this.depth = this.containers = this.values = 0;
    this.inString = this.escaped = false;
    this.over = null;
  }

  private take(b: Buffer): void {
    this.len += b.length;
    if (this.over) return;
    if (this.len > this.limits.maxBytes) { this.drop('bytes'); return; }
    const l = this.limits;
    for (let i = 0; i < b.length; i++) {
      const c = b[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) this.inString = false;
      } else if (c === 0x22) {
        this.inString = true;
      } else if (c === 0x7b || c === 0x5b) {
        if (++this.depth > l.maxDepth) { this.drop('depth'); return; }
        if (++this.containers > l.maxContainers) { this.drop('containers'); return; }
        if (++this.values > l.maxValues) { this.drop('values'); return; }
      } else if (c === 0x7d || c === 0x5d) {
        this.depth--;
      } else if (c === 0x2c && ++this.values > l.maxValues) {
        this.drop('values');
        return;
      }
    }
    this.parts.push(b);
  }

  /** Past a limit: forget what was held, say so at once, and skip to the end of the line. */
  private drop(why: OverLimit): void {
    this.over = why;
    this.parts = [];
    if (this.consumer && !this.consumer({ ok: false, over: why, bytes: this.len })) this.consumer = null;
  }
}

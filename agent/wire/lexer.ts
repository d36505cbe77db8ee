// Streaming framer for the qemu-ga wire protocol: a message ends when its braces and brackets
// balance (not at a newline), so several requests in one read and one request over many reads
// both work. It tracks only what framing needs (strings, escapes, depth); the parser checks syntax.
//
// Recovery, so that no byte sequence can silence the channel:
// - A lexical error (a control byte, 0xFE/0xFF, a non-ASCII byte outside a string, a newline or
//   other control byte inside a string, a stray `}` `]` `,` `:` at the top level) discards the
//   partial message and skips input up to the next brace, bracket or control byte (a newline),
//   where framing starts again: the points where qemu-ga's lexer recovers.
// - A line that starts inside an unfinished request and holds a complete request of its own (an
//   object with an `execute` member) ends the unfinished one: an unclosed `{` cannot swallow the
//   next request, as it does in qemu-ga.
// - At most one error per line: a discarded run costs one error reply, not one per byte.

export interface FrameSink {
  /** A complete top-level JSON text (object, array or scalar), not yet parsed; the sink owns it. */
  message(text: Buffer): void;
  /** A lexical error; the lexer has reset. Replies to it carry no id. */
  error(desc: string): void;
  /** Whether TEXT, a complete object that began a line inside an unfinished message, is a request of its own. */
  isRequest(text: Buffer): boolean;
}

export interface FrameLimits {
  /** Largest message kept in memory; a larger one is discarded with one error. */
  maxBytes: number;
  /** Deepest nesting accepted (qemu-ga: 1024). */
  maxDepth: number;
}

const enum State { Between, Scalar, Value, String, Escape, Recovery }

/** Byte classes. */
const enum C { Other, Space, Newline, Open, Close, Quote, Backslash, Separator, Control, Invalid, High }

const CLASS = new Uint8Array(256);
for (let b = 0; b < 0x20; b++) CLASS[b] = C.Control;
for (let b = 0x80; b < 0x100; b++) CLASS[b] = C.High;
CLASS[0xfe] = CLASS[0xff] = C.Invalid;
CLASS[0x20] = CLASS[0x09] = CLASS[0x0d] = C.Space;
CLASS[0x0a] = C.Newline;
CLASS[0x7b] = CLASS[0x5b] = C.Open;
CLASS[0x7d] = CLASS[0x5d] = C.Close;
CLASS[0x22] = CLASS[0x27] = C.Quote;
CLASS[0x5c] = C.Backslash;
CLASS[0x2c] = CLASS[0x3a] = C.Separator;

/** How a stray byte is named in an error: qemu-ga shows invalid UTF-8 as U+FFFD. */
function strayText(b: number): string {
  return b >= 0x80 ? '\ufffd' : String.fromCharCode(b);
}

/**
 * A span longer than one read is gathered in a block twice its size so far (from Node's buffer
 * pool while small: most spans are a request cut by the end of a read), up to this size; past it
 * the span moves to a block of the limit's size.
 */
const FIRST_BLOCK = 64 << 10;
const SMALL_BLOCK = 1 << 10;
/** A message this big keeps its block even when the block is mostly unused: copying it would double it. */
const KEEP_BLOCK = 1 << 20;

/**
 * Bytes of one span of input (a message, or a candidate line) gathered across pushes, kept in one
 * block so the message is handed out without another copy: a 50 MB request costs one copy of it
 * before parsing, not the reads' copies plus their concatenation. A big block is allocated at the
 * size limit: only the pages written are resident, and glibc maps an allocation that large on its
 * own, so it goes back to the system when freed (hundreds of 64 KiB copies stayed in its heap).
 */
class Span {
  size = 0;
  /** The block being filled (its first SIZE bytes are the span so far). */
  private block: Buffer | null = null;
  /** Where the span starts in the current chunk (0 when it began in an earlier one), -1 when not gathering. */
  from = -1;

  constructor(private readonly maxBytes: number) {}

  begin(at: number): void {
    this.stop();
    this.from = at;
  }

  stop(): void {
    this.size = 0;
    this.from = -1;
    this.block = null;
  }

  /** Bytes so far, counting the current chunk up to index TO (exclusive). */
  length(to: number): number {
    return this.size + (this.from >= 0 ? to - this.from : 0);
  }

  /** Copies CHUNK[from, to) after what the span holds. */
  private append(chunk: Buffer, from: number, to: number): void {
    const need = this.size + to - from;
    if (!this.block || need > this.block.length) {
      const size = need <= FIRST_BLOCK ? Math.min(FIRST_BLOCK, Math.max(SMALL_BLOCK, 2 * need)) : Math.max(need, this.maxBytes + 1);
      const b = size < FIRST_BLOCK ? Buffer.allocUnsafe(size) : Buffer.allocUnsafeSlow(size);
      if (this.block) this.block.copy(b, 0, 0, this.size);
      this.block = b;
    }
    this.size += chunk.copy(this.block, this.size, from, to);
  }

  /** At the end of a chunk the caller may reuse: what is kept of it is copied. */
  carry(chunk: Buffer, n: number): void {
    if (this.from < 0) return;
    if (n > this.from) this.append(chunk, this.from, n);
    this.from = 0;
  }

  /** The whole span up to index TO of the current chunk, as a buffer of its own. */
  take(chunk: Buffer, to: number): Buffer {
    // Always a copy: messages may wait in a queue while the caller reuses its read buffer.
    let text: Buffer;
    if (!this.block) text = Buffer.from(chunk.subarray(Math.max(0, this.from), to));
    else {
      if (this.from >= 0 && to > this.from) this.append(chunk, this.from, to);
      // The block is the message's own now (a new span starts a new one), unless most of it is
      // unused: a small queued message must not hold a large block; a big one may (only written pages are resident).
      text = this.size * 2 >= this.block.length || this.size >= KEEP_BLOCK ? this.block.subarray(0, this.size) : Buffer.from(this.block.subarray(0, this.size));
    }
    this.stop();
    return text;
  }
}

export class FrameLexer {
  private state = State.Between;
  private depth = 0;
  private quote = 0x22;
  private readonly msg: Span;
  /** Set while the rest of an oversized or over-deep message is skipped (kept lexically in step). */
  private discarding = false;
  /** An error was reported on this line and no message came since: further errors are silent. */
  private quiet = false;
  /** Only whitespace so far on this line, which began inside an unfinished message. */
  private lineFresh = false;
  /** A `{` that began a line inside an unfinished message, and the depth it returns to when closed. */
  private readonly line: Span;
  private lineBase = -1;

  constructor(private readonly sink: FrameSink, private readonly limits: FrameLimits) {
    this.msg = new Span(limits.maxBytes);
    this.line = new Span(limits.maxBytes);
  }

  push(chunk: Buffer): void {
    const n = chunk.length;
    const msg = this.msg, line = this.line;
    for (let i = 0; i < n; i++) {
      const b = chunk[i];
      const c = CLASS[b];
      switch (this.state) {
        case State.Between:
          if (c === C.Space) continue;
          if (c === C.Newline) { this.quiet = false; continue; }
          if (c === C.Open) { this.state = State.Value; this.depth = 1; this.lineFresh = false; msg.begin(i); }
          else if (c === C.Quote) { this.state = State.String; this.quote = b; this.depth = 0; msg.begin(i); }
          else if (c === C.Close || c === C.Separator) { this.fail('JSON parse error, expecting value'); continue; }
          else if (c >= C.Control) { this.fail(`JSON parse error, stray '${strayText(b)}'`); continue; }
          else { this.state = State.Scalar; msg.begin(i); }
          break;
        case State.Scalar:
          // A top-level keyword or number ends at the first delimiter, which is then read again.
          if (c === C.Other) break;
          if (c >= C.Control) { this.fail(`JSON parse error, stray '${strayText(b)}'`); continue; }
          this.finish(chunk, i);
          i--;
          continue;
        case State.Value:
          if (c === C.Space) break;
          if (c === C.Newline) { this.lineFresh = true; this.quiet = false; break; }
          if (c === C.Quote) { this.state = State.String; this.quote = b; }
          else if (c === C.Open) {
            if (this.lineFresh) { line.begin(i); this.lineBase = this.depth; }
            if (++this.depth > this.limits.maxDepth && !this.discarding) this.overLimit('JSON nesting depth limit exceeded');
          } else if (c === C.Close) {
            if (--this.depth === 0) {
              line.stop();
              if (this.discarding) this.resetMessage(); else this.finish(chunk, i + 1);
              continue;
            }
            if (this.depth === this.lineBase && line.from >= 0 && this.takeLine(chunk, i + 1)) continue;
          } else if (c >= C.Control) { this.fail(`JSON parse error, stray '${strayText(b)}'`); continue; }
          this.lineFresh = false;
          break;
        case State.String:
          if (c === C.Backslash) this.state = State.Escape;
          else if (b === this.quote) {
            if (this.depth > 0) this.state = State.Value;
            else { this.finish(chunk, i + 1); continue; }
          } else if (b < 0x20 || c === C.Invalid) {
            this.fail(`JSON parse error, stray '${strayText(b)}'`);
            continue;
          }
          break;
        case State.Escape:
          if (b < 0x20 || c === C.Invalid) {
            this.fail(`JSON parse error, stray '${strayText(b)}'`);
            continue;
          }
          this.state = State.String;
          break;
        case State.Recovery:
          // qemu-ga's resynchronization points: braces, brackets, control bytes but TAB, 0xFE, 0xFF.
          if (c === C.Open || c === C.Close || c === C.Newline || c === C.Control || c === C.Invalid || b === 0x0d) {
            this.state = State.Between;
            i--;
          }
          continue;
      }
      if (msg.from >= 0 && !this.discarding && msg.length(i + 1) > this.limits.maxBytes) {
        this.overLimit(this.sizeError());
      }
      if (line.from >= 0 && line.length(i + 1) > this.limits.maxBytes) { line.stop(); this.lineBase = -1; }
    }
    // The caller may reuse CHUNK once push returns: what is kept of it is copied.
    msg.carry(chunk, n);
    line.carry(chunk, n);
  }

  /** A `{` line inside an unfinished message just closed: a request of its own ends the unfinished one. */
  private takeLine(chunk: Buffer, to: number): boolean {
    const text = this.line.take(chunk, to);
    this.lineBase = -1;
    if (!this.sink.isRequest(text)) return false;
    this.report('JSON parse error, unfinished request abandoned: a new request began on the next line');
    this.resetMessage();
    this.emit(text);
    return true;
  }

  private overLimit(desc: string): void {
    this.discarding = true;
    this.msg.stop();
    this.report(desc);
  }

  /** The message ends at index TO of CHUNK. */
  private finish(chunk: Buffer, to: number): void {
    if (this.msg.length(to) > this.limits.maxBytes) { this.overLimit(this.sizeError()); this.resetMessage(); return; }
    this.emit(this.msg.take(chunk, to));
  }

  private sizeError(): string {
    return `JSON token size limit exceeded: a request may hold at most ${this.limits.maxBytes} bytes`;
  }

  private emit(text: Buffer): void {
    this.resetMessage();
    this.quiet = false;
    this.sink.message(text);
  }

  /** A lexical error: the partial message is dropped and input skipped to a recovery point. */
  private fail(desc: string): void {
    this.resetMessage();
    this.state = State.Recovery;
    this.report(desc);
  }

  private report(desc: string): void {
    if (this.quiet) return;
    this.quiet = true;
    // Only the offending byte is ever named: the discarded bytes may be part of a secret.
    this.sink.error(desc);
  }

  private resetMessage(): void {
    this.msg.stop();
    this.line.stop();
    this.lineBase = -1;
    this.lineFresh = false;
    this.state = State.Between;
    this.depth = 0;
    this.discarding = false;
  }
}

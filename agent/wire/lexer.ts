// Streaming framer for the qemu-ga wire protocol: a message ends when its braces and brackets
// balance (not at a newline), so several requests in one read and one request over many reads
// both work. It tracks only what framing needs (strings, escapes, depth); the parser checks syntax.

export interface FrameSink {
  /** A complete top-level JSON text (object, array or scalar), not yet parsed; the sink owns it. */
  message(text: Buffer): void;
  /** A lexical error; the lexer has reset. Replies to it carry no id. */
  error(desc: string): void;
}

export interface FrameLimits {
  /** Largest message kept in memory; a larger one is discarded with one error. */
  maxBytes: number;
  /** Deepest nesting accepted (qemu-ga: 1024). */
  maxDepth: number;
}

const enum State { Between, Scalar, Value, String, Escape }

const LBRACE = 0x7b, RBRACE = 0x7d, LBRACKET = 0x5b, RBRACKET = 0x5d;
const DQUOTE = 0x22, SQUOTE = 0x27, BACKSLASH = 0x5c;

/** Bytes that reset the lexer: 0xFF (the resync byte, never valid UTF-8) and C0 controls but TAB, LF, CR. */
function isResetByte(b: number): boolean {
  return b === 0xff || (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d);
}

function isWhitespace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

function isStructural(b: number): boolean {
  return b === LBRACE || b === RBRACE || b === LBRACKET || b === RBRACKET || b === 0x3a || b === 0x2c;
}

/** How a stray byte is named in an error: qemu-ga shows invalid UTF-8 as U+FFFD. */
function strayText(b: number): string {
  return b >= 0x80 ? '\ufffd' : String.fromCharCode(b);
}

export class FrameLexer {
  private state = State.Between;
  private depth = 0;
  private quote = DQUOTE;
  private parts: Buffer[] = [];
  private size = 0;
  /** Set while the rest of an oversized or over-deep message is skipped. */
  private discarding = false;
  /** Consecutive reset bytes give one error, not one per byte. */
  private justReset = false;

  constructor(private readonly sink: FrameSink, private readonly limits: FrameLimits) {}

  push(chunk: Buffer): void {
    // First byte of the current message inside this chunk; a message begun earlier continues at 0.
    let start = this.state === State.Between ? -1 : 0;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      const b = chunk[i];
      if (isResetByte(b)) {
        this.reset(b);
        start = -1;
        continue;
      }
      this.justReset = false;
      switch (this.state) {
        case State.Between:
          if (isWhitespace(b)) continue;
          start = i;
          if (b === LBRACE || b === LBRACKET) { this.state = State.Value; this.depth = 1; }
          else if (b === DQUOTE || b === SQUOTE) { this.state = State.String; this.quote = b; this.depth = 0; }
          else if (isStructural(b)) { this.emit(chunk, start, i + 1); start = -1; }
          else this.state = State.Scalar;
          break;
        case State.Scalar:
          // A top-level keyword or number ends at the first delimiter, which is then read again.
          if (isWhitespace(b) || isStructural(b) || b === DQUOTE || b === SQUOTE) {
            this.emit(chunk, start, i);
            start = -1;
            i--;
          }
          break;
        case State.Value:
          if (b === DQUOTE || b === SQUOTE) { this.state = State.String; this.quote = b; }
          else if (b === LBRACE || b === LBRACKET) {
            if (++this.depth > this.limits.maxDepth && !this.discarding) {
              this.discarding = true;
              this.parts = [];
              this.size = 0;
              this.sink.error('JSON nesting depth limit exceeded');
            }
          } else if (b === RBRACE || b === RBRACKET) {
            if (--this.depth === 0) { this.emit(chunk, start, i + 1); start = -1; }
          }
          break;
        case State.String:
          if (b === BACKSLASH) this.state = State.Escape;
          else if (b === this.quote) {
            if (this.depth === 0) { this.emit(chunk, start, i + 1); start = -1; }
            else this.state = State.Value;
          }
          break;
        case State.Escape:
          this.state = State.String;
          break;
      }
      if (start >= 0 && !this.discarding && this.size + (i - start + 1) > this.limits.maxBytes) {
        this.discarding = true;
        this.parts = [];
        this.size = 0;
        this.sink.error(`JSON token size limit exceeded: a request may hold at most ${this.limits.maxBytes} bytes`);
      }
    }
    // The caller may reuse CHUNK once push returns: what is kept of it is copied.
    if (start >= 0 && this.state !== State.Between) this.keep(chunk, start, n, true);
  }

  private keep(chunk: Buffer, from: number, to: number, copy = false): void {
    if (this.discarding || to <= from) return;
    this.parts.push(copy ? Buffer.from(chunk.subarray(from, to)) : chunk.subarray(from, to));
    this.size += to - from;
  }

  private emit(chunk: Buffer, from: number, to: number): void {
    const discarded = this.discarding;
    if (!discarded) this.keep(chunk, from, to);
    // Always a copy: messages may wait in a queue while the caller reuses its read buffer.
    const text = this.parts.length === 1 ? Buffer.from(this.parts[0]) : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    this.state = State.Between;
    this.depth = 0;
    this.discarding = false;
    if (!discarded) this.sink.message(text);
  }

  private reset(b: number): void {
    const hadPartial = this.state !== State.Between;
    this.parts = [];
    this.size = 0;
    this.state = State.Between;
    this.depth = 0;
    this.discarding = false;
    if (this.justReset && !hadPartial) return;
    this.justReset = true;
    // Only the offending byte is named: the discarded bytes may be part of a secret.
    this.sink.error(`JSON parse error, stray '${strayText(b)}'`);
  }
}

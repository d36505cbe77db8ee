// Strict JSON parser for one framed request, with qemu-ga's error texts and things JSON.parse
// cannot do: integers beyond 2^53 survive digit for digit (as bigint), numbers beyond a double's
// range keep their text (RawJson: an id of 1e400 is echoed as 1e400, where qemu-ga writes `inf`,
// which is not JSON), and duplicate keys are an error. Single-quoted strings are accepted (a QMP extension). Objects have no prototype, so
// "__proto__" is an ordinary key. Error texts name offsets, never request text: a request may
// carry a password, and V8's own JSON.parse errors quote their input.

import { RawJson } from './json-write';

export type JsonValue = null | boolean | number | bigint | RawJson | string | StringInBytes | JsonValue[] | JsonObject;
export interface JsonObject { [key: string]: JsonValue }

/** A JSON object as parsed here (no prototype), not an array, a bigint or a kept number text. */
export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === null;
}

export class JsonSyntaxError extends Error {}

/** A string value left unparsed in the request's bytes (its content is BYTES[FROM, TO)): a big base64 argument. */
export class StringInBytes {
  private spent = false;
  constructor(readonly bytes: Buffer, readonly from: number, readonly to: number) {}
  /** Its bytes are being reused (decoded in place): it can be read only once. */
  used(): void {
    if (this.spent) throw new Error('a string left in the request bytes was read twice');
    this.spent = true;
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true });

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;
const WORD = /[A-Za-z0-9_.+-]+/y;

function fail(what: string): never {
  throw new JsonSyntaxError(`JSON parse error, ${what}`);
}

/** Parses BYTES; with HOLE, the string at HOLE's place is not read but returned as HOLE. */
export function parseJson(bytes: Buffer, hole?: StringInBytes): JsonValue {
  let text: string;
  let holeAt = -1;
  try {
    if (!hole) text = decoder.decode(bytes);
    else {
      // Decoded in two parts around the string's content: the quotes are ASCII, so no UTF-8 sequence spans a cut.
      const head = decoder.decode(bytes.subarray(0, hole.from));
      holeAt = head.length - 1;
      text = head + decoder.decode(bytes.subarray(hole.to));
    }
  } catch {
    fail('invalid UTF-8 sequence in string');
  }
  const p = new Parser(text, holeAt, hole);
  const value = p.value();
  p.end();
  return value;
}

class Parser {
  private i = 0;
  constructor(private readonly s: string, private readonly holeAt = -1, private readonly hole?: StringInBytes) {}

  end(): void {
    this.skip();
    if (this.i < this.s.length) fail('expecting value');
  }

  private skip(): void {
    const s = this.s;
    let i = this.i;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      i++;
    }
    this.i = i;
  }

  value(): JsonValue {
    this.skip();
    const c = this.s[this.i];
    switch (c) {
      case '{': return this.object();
      case '[': return this.array();
      case '"': case "'":
        if (this.i !== this.holeAt) return this.string();
        this.i += 2;
        return this.hole!;
      case undefined: case '}': case ']': case ',': case ':': return fail('expecting value');
    }
    return this.scalar();
  }

  private object(): JsonObject {
    const out: JsonObject = Object.create(null);
    this.i++;
    this.skip();
    if (this.s[this.i] === '}') { this.i++; return out; }
    for (;;) {
      this.skip();
      const c = this.s[this.i];
      if (c !== '"' && c !== "'") {
        if (c === undefined || c === '}' || c === ',' || c === ']' || c === ':') fail('expecting value');
        this.value();
        fail('key is not a string in object');
      }
      if (this.i === this.holeAt) fail('key left unread');
      const key = this.string();
      this.skip();
      if (this.s[this.i] !== ':') fail('missing : in object pair');
      this.i++;
      const v = this.value();
      if (Object.prototype.hasOwnProperty.call(out, key)) fail('duplicate key');
      out[key] = v;
      this.skip();
      const sep = this.s[this.i++];
      if (sep === '}') return out;
      if (sep !== ',') fail(sep === undefined ? 'expecting value' : 'expected separator in dict');
    }
  }

  private array(): JsonValue[] {
    const out: JsonValue[] = [];
    this.i++;
    this.skip();
    if (this.s[this.i] === ']') { this.i++; return out; }
    for (;;) {
      out.push(this.value());
      this.skip();
      const sep = this.s[this.i++];
      if (sep === ']') return out;
      if (sep !== ',') fail(sep === undefined ? 'expecting value' : 'expected separator in list');
    }
  }

  private string(): string {
    const s = this.s;
    const quote = s[this.i++];
    let out = '';
    let from = this.i;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (Number.isNaN(c)) fail('expecting value');
      if (c < 0x20) fail('control character in string');
      if (c === 0x5c) {
        out += s.slice(from, this.i);
        out += this.escape();
        from = this.i;
        continue;
      }
      if (s[this.i] === quote) {
        out += s.slice(from, this.i);
        this.i++;
        return out;
      }
      this.i++;
    }
  }

  private escape(): string {
    const s = this.s;
    const e = s[this.i + 1];
    this.i += 2;
    switch (e) {
      case '"': return '"';
      case "'": return "'";
      case '\\': return '\\';
      case '/': return '/';
      case 'b': return '\b';
      case 'f': return '\f';
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case 'u': {
        const hi = this.hex4();
        if (hi >= 0xd800 && hi <= 0xdbff && s[this.i] === '\\' && s[this.i + 1] === 'u') {
          const save = this.i;
          this.i += 2;
          const lo = this.hex4();
          if (lo >= 0xdc00 && lo <= 0xdfff) return String.fromCharCode(hi, lo);
          this.i = save;
        }
        if (hi >= 0xd800 && hi <= 0xdfff) fail(`\\u${hi.toString(16).toUpperCase().padStart(4, '0')} is not a valid Unicode character`);
        return String.fromCharCode(hi);
      }
    }
    return fail('invalid escape sequence in string');
  }

  private hex4(): number {
    const h = this.s.slice(this.i, this.i + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('invalid escape sequence in string');
    this.i += 4;
    return parseInt(h, 16);
  }

  private scalar(): JsonValue {
    const s = this.s;
    const c = s[this.i];
    if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER.lastIndex = this.i;
      const m = NUMBER.exec(s);
      const tail = this.wordAt(this.i + (m ? m[0].length : 0));
      if (!m || tail) fail(`stray token at offset ${this.i}`);
      this.i += m[0].length;
      const text = m[0];
      if (INTEGER.test(text)) {
        const n = Number(text);
        return Number.isSafeInteger(n) ? (n === 0 ? 0 : n) : BigInt(text);
      }
      const n = Number(text);
      return Number.isFinite(n) ? n : new RawJson(text);
    }
    const word = this.wordAt(this.i);
    if (!word) fail(`stray token at offset ${this.i}`);
    const at = this.i;
    this.i += word.length;
    if (word === 'true') return true;
    if (word === 'false') return false;
    if (word === 'null') return null;
    return fail(`invalid keyword at offset ${at}`);
  }

  private wordAt(at: number): string {
    WORD.lastIndex = at;
    const m = WORD.exec(this.s);
    return m ? m[0] : '';
  }
}

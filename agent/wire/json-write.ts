// Reply serializer: one compact line, pure ASCII (everything outside printable ASCII is \uXXXX, as
// qemu-ga writes it), bigint ids digit for digit, never a raw newline. RawJson must already be
// compact JSON without newlines (JSON.stringify output is).

const NON_ASCII = /[\u007f-\uffff]/g;

/**
 * JSON text that is already serialized (statistics samples, guest-info's reply are kept this
 * way): escaped to ASCII once here, then written as is, so a kept reply is not scanned again.
 */
export class RawJson {
  readonly text: string;
  constructor(text: string) {
    this.text = escapeNonAscii(text);
  }
}

function escapeNonAscii(json: string): string {
  NON_ASCII.lastIndex = 0;
  if (!NON_ASCII.test(json)) return json;
  return json.replace(NON_ASCII, (c) => '\\u' + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0'));
}

function needsOwnWriter(v: unknown): boolean {
  if (typeof v === 'bigint' || v instanceof RawJson) return true;
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.some(needsOwnWriter);
  for (const k in v as Record<string, unknown>) if (needsOwnWriter((v as Record<string, unknown>)[k])) return true;
  return false;
}

function write(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof RawJson) return v.text;
  if (v === null || typeof v !== 'object') return escapeNonAscii(JSON.stringify(v) ?? 'null');
  if (Array.isArray(v)) return '[' + v.map(write).join(',') + ']';
  const parts: string[] = [];
  for (const k in v as Record<string, unknown>) {
    const x = (v as Record<string, unknown>)[k];
    if (x !== undefined) parts.push(escapeNonAscii(JSON.stringify(k)) + ':' + write(x));
  }
  return '{' + parts.join(',') + '}';
}

/** Serializes a reply object to one line of ASCII JSON, LF not included. */
export function writeJson(value: unknown): string {
  // The own writer escapes piece by piece, leaving out the RawJson parts (escaped already).
  return needsOwnWriter(value) ? write(value) : escapeNonAscii(JSON.stringify(value));
}

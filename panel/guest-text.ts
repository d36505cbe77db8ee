// Text that came from a guest, made safe for the places the panel shows it: a terminal, a log
// line, a JSON document, a Prometheus label. A guest must not be able to move the cursor, rewrite
// the operator's screen (ESC and OSC sequences, C1 controls such as CSI 0x9b), start a new line
// that looks like one of ours, or reorder what is shown (bidirectional overrides).

/** C0 and C1 controls, DEL, line and paragraph separators, bidirectional marks and overrides. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** What JSON.stringify leaves raw of the above (it escapes C0 and lone surrogates itself). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const hex4 = (c: string) => c.charCodeAt(0).toString(16).padStart(4, '0');

/** One line of text for a terminal or a log: every unsafe character shown as a visible escape. */
export function printable(s: string): string {
  return s.replace(UNSAFE, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : c.charCodeAt(0) < 0x100 ? `\\x${hex4(c).slice(2)}` : `\\u${hex4(c)}`));
}

/** JSON whose text holds no control or reordering character outside its own indentation. */
export function safeJson(v: unknown, indent?: number): string {
  return JSON.stringify(v, null, indent).replace(UNSAFE_IN_JSON, (c) => `\\u${hex4(c)}`);
}

/** A Prometheus label value: the format's three escapes, and no other control character. */
export function promLabel(s: string): string {
  return s.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`)).replace(UNSAFE, '\ufffd');
}

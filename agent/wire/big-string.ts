// A big request (a guest-file-write of megabytes) is mostly one base64 string. Left in the
// request's bytes, it costs no second copy as a JavaScript string: it is decoded where it lies
// when the command runs. Only a string that reads the same byte for byte and as a JSON value
// qualifies (ASCII, one-letter escapes such as Perl's "\n"); anything else is parsed as before.

import { StringInBytes } from './json-parse';

/** Strings shorter than this are parsed as usual: the copy costs little. */
export const BIG_STRING = 1 << 20;

/** The escapes a big string may hold: \" \' \\ \/ \b \f \n \r \t. */
const ONE_LETTER = new Uint8Array(128);
for (const c of '"\'\\/bfnrt') ONE_LETTER[c.charCodeAt(0)] = 1;

/**
 * The longest string of at least MIN bytes in a framed message whose content is ASCII with only
 * one-letter escapes, or null. The framer has checked that strings are closed and free of control bytes.
 */
export function findBigString(bytes: Buffer, min = BIG_STRING): StringInBytes | null {
  let from = -1, to = -1;
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const q = bytes[i];
    if (q !== 0x22 && q !== 0x27) continue;
    const start = ++i;
    let plain = true;
    for (; i < n; i++) {
      const b = bytes[i];
      if (b === q) break;
      if (b === 0x5c) { if (ONE_LETTER[bytes[++i]] !== 1) plain = false; } else if (b > 0x7f) plain = false;
    }
    if (plain && i - start >= min && i - start > to - from) { from = start; to = i; }
  }
  return from < 0 ? null : new StringInBytes(bytes, from, to);
}

// Base64 arguments as qemu-ga reads them (QEMU's qbase64_decode, then glib's g_base64_decode):
// only A-Z a-z 0-9 + / = and LF are allowed, LFs anywhere are skipped (Perl's encode_base64 puts
// one every 76 characters), and each group of four gives three bytes less one per trailing '='.
// Where glib would silently produce bytes the sender did not mean, we refuse instead: a '=' that
// is not trailing padding, and a last group of fewer than four characters (glib drops it).

import { StringInBytes } from '../wire/json-parse';
import { QgaError } from '../wire/reply';

const RANK = new Int8Array(256).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((c, i) => { RANK[c.charCodeAt(0)] = i; });
const EQ = 0x3d, LF = 0x0a;

const fail = (desc: string): never => { throw new QgaError('GenericError', desc); };
const misplaced = (at: number): never => fail(`Base64 data has a misplaced '=' in the group of four at offset ${at} (one or two '=' may only pad the end of a group)`);

/**
 * Decodes the LEN characters of SRC into OUT from index 0 and returns the byte count; OUT may be
 * SRC itself (a byte never lands past the characters it came from). Throws qemu-ga's errors.
 */
function decodeInto(src: string | Uint8Array, len: number, out: Uint8Array): number {
  const text = typeof src === 'string' ? src : null;
  let n = 0, v = 0, inGroup = 0, pad = 0, groupStart = 0;
  for (let i = 0; i < len; i++) {
    const c = text !== null ? text.charCodeAt(i) : (src as Uint8Array)[i];
    if (c === LF) continue;
    const rank = c < 256 ? RANK[c] : -1;
    if (rank < 0 && c !== EQ) fail('Base64 data contains invalid characters');
    if (inGroup === 0) groupStart = i;
    if (c === EQ) pad++;
    else if (pad > 0) misplaced(groupStart);
    v = (v << 6) | (rank < 0 ? 0 : rank);
    if (++inGroup < 4) continue;
    if (pad > 2) misplaced(groupStart);
    out[n++] = (v >> 16) & 0xff;
    if (pad < 2) out[n++] = (v >> 8) & 0xff;
    if (pad < 1) out[n++] = v & 0xff;
    v = 0; inGroup = 0; pad = 0;
  }
  if (inGroup > 0) fail(`Base64 data ends with an incomplete group of ${inGroup} character${inGroup > 1 ? 's' : ''} at offset ${groupStart}: pad it with '=' to four`);
  return n;
}

/** The bytes of TEXT, or qemu-ga's error for characters outside its alphabet. */
export function decodeBase64(text: string): Buffer {
  const out = Buffer.allocUnsafe(Math.floor(text.length / 4) * 3);
  return out.subarray(0, decodeInto(text, text.length, out));
}

const UNESCAPE: Record<number, number> = { 0x22: 0x22, 0x27: 0x27, 0x5c: 0x5c, 0x2f: 0x2f, 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09 };

/**
 * The bytes of a base64 string left in the request (a big guest-file-write), decoded where it
 * lies: the request's text costs no second copy. Once only: the text is gone afterwards.
 */
export function decodeBase64InPlace(s: StringInBytes): Buffer {
  const b = s.bytes.subarray(s.from, s.to);
  s.used();
  // The JSON escapes first (the string holds only one-letter ones, see findBigString), then the base64.
  let w = 0;
  for (let r = 0; r < b.length; r++) b[w++] = b[r] === 0x5c ? UNESCAPE[b[++r]] : b[r];
  return b.subarray(0, decodeInto(b, w, b));
}

/** TEXT in canonical form (no line breaks), for code that takes standard base64. */
export function canonicalBase64(text: string): string {
  const bytes = decodeBase64(text);
  const s = bytes.toString('base64');
  bytes.fill(0);
  return s;
}

// Base64 arguments as qemu-ga reads them (QEMU's qbase64_decode, then glib's g_base64_decode):
// only A-Z a-z 0-9 + / = and LF are allowed, LFs anywhere are skipped (Perl's encode_base64 puts
// one every 76 characters), and each group of four gives three bytes less one per trailing '='.
// Where glib would silently produce bytes the sender did not mean, we refuse instead: a '=' that
// is not trailing padding, and a last group of fewer than four characters (glib drops it).

import { QgaError } from '../wire/reply';

const RANK = new Int8Array(256).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((c, i) => { RANK[c.charCodeAt(0)] = i; });
const EQ = 0x3d, LF = 0x0a;

const fail = (desc: string): never => { throw new QgaError('GenericError', desc); };
const misplaced = (at: number): never => fail(`Base64 data has a misplaced '=' in the group of four at offset ${at} (one or two '=' may only pad the end of a group)`);

/** The bytes of TEXT, or qemu-ga's error for characters outside its alphabet. */
export function decodeBase64(text: string): Buffer {
  const out = Buffer.allocUnsafe(Math.floor(text.length / 4) * 3);
  let n = 0, v = 0, inGroup = 0, pad = 0, groupStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
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
  return out.subarray(0, n);
}

/** TEXT in canonical form (no line breaks), for code that takes standard base64. */
export function canonicalBase64(text: string): string {
  const bytes = decodeBase64(text);
  const s = bytes.toString('base64');
  bytes.fill(0);
  return s;
}

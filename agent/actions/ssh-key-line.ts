// One authorized_keys line as sshd reads it: [options] type base64-blob [comment]. The blob is
// decoded and must name its own type (its first length-prefixed string), so a key is identified
// by type and blob, never by the text around it (options, comment, spacing).

export interface KeyLine {
  /** The options field as written (empty when none). */
  options: string;
  type: string;
  blob: string;
  comment: string;
}

/** Key types OpenSSH accepts in authorized_keys (plain and certificate). */
export const KEY_TYPES: ReadonlySet<string> = new Set([
  'ssh-ed25519', 'ssh-rsa', 'ssh-dss', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com', 'ssh-xmss@openssh.com',
  'ssh-ed25519-cert-v01@openssh.com', 'ssh-rsa-cert-v01@openssh.com', 'ssh-dss-cert-v01@openssh.com',
  'ecdsa-sha2-nistp256-cert-v01@openssh.com', 'ecdsa-sha2-nistp384-cert-v01@openssh.com', 'ecdsa-sha2-nistp521-cert-v01@openssh.com',
  'sk-ssh-ed25519-cert-v01@openssh.com', 'sk-ecdsa-sha2-nistp256-cert-v01@openssh.com', 'ssh-xmss-cert-v01@openssh.com',
]);

/** Why a line is not a key, in words that name the part at fault. */
export class BadKeyLine extends Error {}

const bad = (why: string): never => { throw new BadKeyLine(why); };

// sshd's rule: options run to the first blank outside double quotes; \" inside quotes is a quote.
function splitOptions(line: string): [string, string] {
  let quoted = false, i = 0;
  for (; i < line.length && (quoted || (line[i] !== ' ' && line[i] !== '\t')); i++) {
    if (line[i] === '\\' && line[i + 1] === '"') i++;
    else if (line[i] === '"') quoted = !quoted;
  }
  if (quoted) bad('its options have an unterminated double quote');
  return [line.slice(0, i), line.slice(i).replace(/^[ \t]+/, '')];
}

// A comma-separated list of NAME or NAME="VALUE" (sshd refuses the whole line otherwise).
const OPTIONS = /^[A-Za-z0-9_-]+(?:="(?:[^"\\]|\\.)*")?(?:,[A-Za-z0-9_-]+(?:="(?:[^"\\]|\\.)*")?)*$/;

function firstWord(s: string): [string, string] {
  const m = /^([^ \t]*)[ \t]*(.*)$/.exec(s)!;
  return [m[1], m[2]];
}

/** The type the blob names itself: its first string (uint32 big-endian length, then bytes). */
function blobType(blob: string): string | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob) || blob.length % 4 !== 0) return null;
  const bytes = Buffer.from(blob, 'base64');
  if (bytes.toString('base64') !== blob || bytes.length < 4) return null;
  const len = bytes.readUInt32BE(0);
  // Something must follow the type: a key without key data is no key.
  if (len === 0 || len > 64 || bytes.length <= 4 + len) return null;
  return bytes.subarray(4, 4 + len).toString('latin1');
}

/** Parses one line (no newline); throws BadKeyLine saying what is wrong. Blank and comment lines are errors here. */
export function parseKeyLine(text: string): KeyLine {
  const line = text.replace(/^[ \t\r]+|[ \t\r]+$/g, '');
  if (line === '') bad('it is empty');
  if (line.startsWith('#')) bad('it is a comment, not a key');
  if (/[\0-\x08\n-\x1f\x7f]/.test(line)) bad('it contains a control character (a key is one line)');
  let [word, rest] = firstWord(line);
  let options = '';
  if (!KEY_TYPES.has(word)) {
    // An unknown type before a key blob (every blob starts with AAAA, its type's length).
    if (rest.startsWith('AAAA')) bad(`'${word.slice(0, 40)}' is not a key type (expected one of ${[...KEY_TYPES].slice(0, 6).join(', ')}, ...)`);
    [options, rest] = splitOptions(line);
    if (!OPTIONS.test(options)) bad(`'${options.slice(0, 40)}' is neither a key type nor valid options (expected e.g. ssh-ed25519, or from="10.0.0.0/8",no-pty before the type)`);
    [word, rest] = firstWord(rest);
    if (word === '') bad('it has options but no key after them');
    if (!KEY_TYPES.has(word)) bad(`'${word.slice(0, 40)}' is not a key type (expected one of ${[...KEY_TYPES].slice(0, 6).join(', ')}, ...)`);
  }
  const [blob, comment] = firstWord(rest);
  if (blob === '') bad(`it has the type ${word} but no key data after it`);
  const named = blobType(blob);
  if (named === null) bad(`its key data is not a base64 OpenSSH key blob`);
  if (named !== word) bad(`its key data is a ${named!.replace(/[^\x21-\x7e]/g, '?').slice(0, 64)} key, not ${word}`);
  return { options, type: word, blob, comment };
}

/** What identifies a key: its type and blob; options and comment take no part. */
export const keyId = (k: KeyLine): string => `${k.type} ${k.blob}`;

/** Parses LINE when it is a key line, else null (blank, comment, or text sshd would not accept). */
export function keyOf(line: string): KeyLine | null {
  try { return parseKeyLine(line); } catch { return null; }
}

// guest-set-user-password, as qemu-ga (base64 password, `crypted` for a hash) but checked before
// anything runs, and with chpasswd's reason on failure. The password reaches chpasswd on stdin
// only: never argv, the environment, the journal, a log line or an error text. Unlike qemu-ga,
// which passes any account and any text to chpasswd, system accounts and nobody get no password,
// and a hash must be one that crypt(3) can check a password against one day.

import { Account, findAccount, USER_NAME } from '../os/accounts';
import type { System } from '../os/system';
import { QgaError } from '../wire/reply';

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MAX_PASSWORD = 1024;
/** crypt(3)'s base64 alphabet, and a salt character of MD5/SHA crypt (printable, not $ : ; * ! \\). */
const B = '[./0-9A-Za-z]';
const S = '[\\x22\\x23\\x25-\\x29\\x2b-\\x39\\x3c-\\x5b\\x5d-\\x7e]';
const ROUNDS = '(?:rounds=[1-9][0-9]{3,8}\\$)?';
/**
 * The hashes libxcrypt (Debian's crypt) can check, with the lengths it writes: MD5 ($1$, salt up to
 * 8), SHA-256 and SHA-512 ($5$, $6$, rounds 1000..999999999, salt up to 16), bcrypt ($2a$, $2b$,
 * $2y$, cost 04..31, its salt's last character one of four), yescrypt and gost-yescrypt ($y$, $gy$;
 * the cost field only by shape, the salt must decode). A longer salt or another length would
 * never verify: the account would be locked with no one knowing.
 */
const HASHES = [
  new RegExp(`^\\$1\\$${S}{0,8}\\$${B}{22}$`),
  new RegExp(`^\\$5\\$${ROUNDS}${S}{0,16}\\$${B}{43}$`),
  new RegExp(`^\\$6\\$${ROUNDS}${S}{0,16}\\$${B}{86}$`),
  new RegExp(`^\\$2[aby]\\$(?:0[4-9]|[12][0-9]|3[01])\\$${B}{21}[.Oeu]${B}{31}$`),
];
const YESCRYPT = new RegExp(`^\\$g?y\\$j${B}{2}\\$(${B}{0,86})\\$${B}{43}$`);
const ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Whether TEXT is a crypt(3) hash that a password can be checked against (see HASHES). */
export function isCryptHash(text: string): boolean {
  if (HASHES.some((h) => h.test(text))) return true;
  const salt = YESCRYPT.exec(text)?.[1];
  if (salt === undefined) return false;
  // The salt is base64 of bytes: the bits past the last whole byte must be zero.
  const spare = (salt.length * 6) % 8;
  return spare !== 6 && (salt.length === 0 || ALPHABET.indexOf(salt[salt.length - 1]) < 1 << (6 - spare));
}
const decoder = new TextDecoder('utf-8', { fatal: true });

const fail = (desc: string): never => { throw new QgaError('GenericError', desc); };

/** Checks everything before chpasswd runs; returns the bytes of the single stdin line. */
export function passwordLine(sys: System, username: string, password64: string, crypted: boolean): { line: Buffer; account: Account } {
  if (/[:\n]/.test(username)) fail('forbidden characters in username');
  if (!USER_NAME.test(username)) fail(`Parameter 'username' is not a valid user name`);
  if (!B64.test(password64)) fail('Base64 data contains invalid characters');
  const raw = Buffer.from(password64, 'base64');
  if (raw.includes(0x0a)) fail('forbidden characters in raw password');
  if (raw.length === 0) fail('the password is empty');
  if (raw.length > MAX_PASSWORD) fail(`the password is longer than ${MAX_PASSWORD} bytes`);
  let text: string;
  try { text = decoder.decode(raw); } catch { return fail('the password is not valid UTF-8'); }
  // A CR, NUL or other control byte would be stored silently (chpasswd strips only the newline).
  if (/[\x00-\x1f\x7f]/.test(text)) fail('forbidden characters in raw password (control characters)');
  if (crypted && !isCryptHash(text)) fail('the password is not a crypt(3) hash that chpasswd -e accepts ($1$, $2b$, $5$, $6$, $y$, $gy$, with their salt and hash lengths)');
  const account = findAccount(sys, username);
  if (!account) fail(`user '${username}' does not exist`);
  // System accounts (daemon, www-data) get no password from the panel; root and people do. A login
  // shell such as nologin is no reason: an SFTP-only user has one, and needs a password.
  if (account!.uid > 0 && account!.uid < 1000) fail(`user '${username}' is a system account (uid ${account!.uid}); only root and uid 1000 and above are allowed`);
  // nobody owns whatever NFS and user namespaces cannot map: a password would open all of it.
  if (account!.uid === 65534) fail(`user '${username}' is the unprivileged placeholder account (uid 65534); it gets no password`);
  // (uid_t)-1 and -2 are no one's ids (setuid(-1) means "unchanged").
  if (account!.uid >= 4294967294 || account!.uid === 65535) fail(`user '${username}' has the invalid uid ${account!.uid}`);
  raw.fill(0);
  return { line: Buffer.from(`${username}:${text}\n`, 'utf8'), account: account! };
}

/** Removes the secret from a tool's message, in case a tool echoes its input. */
function scrub(msg: string, secret: string): string {
  let m = msg;
  if (secret.length >= 3) m = m.split(secret).join('***');
  return m.replace(/\s+/g, ' ').trim().slice(0, 300);
}

export async function setUserPassword(sys: System, a: { username: string; password: string; crypted: boolean }): Promise<Record<string, never>> {
  const { line } = passwordLine(sys, a.username, a.password, a.crypted);
  const chpasswd = sys.which('chpasswd');
  if (!chpasswd) fail("cannot find 'chpasswd' program in PATH");
  const args = [...(a.crypted ? ['-e'] : []), ...(sys.root !== '/' ? ['-R', sys.root] : [])];
  const secret = line.toString('utf8').slice(a.username.length + 1, -1);
  try {
    const r = await sys.run(chpasswd!, args, { input: line, timeoutMs: 10_000 });
    if (r.timedOut) fail('chpasswd did not finish within 10 s (is /etc/shadow locked by another program?)');
    if (r.code !== 0) fail(`chpasswd failed (exit ${r.code ?? r.signal}): ${scrub(r.stderr, secret) || 'no message'}`);
  } finally {
    line.fill(0);
  }
  return {};
}

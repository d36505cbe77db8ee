// guest-set-user-password, as qemu-ga (base64 password, `crypted` for a hash) but checked before
// anything runs, and with chpasswd's reason on failure. The password reaches chpasswd on stdin
// only: never argv, the environment, the journal, a log line or an error text.

import { Account, findAccount, USER_NAME } from '../os/accounts';
import type { System } from '../os/system';
import { QgaError } from '../wire/reply';

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MAX_PASSWORD = 1024;
/** crypt(3) hashes chpasswd -e may store: MD5, bcrypt, SHA-256, SHA-512, yescrypt, gost-yescrypt, scrypt. */
const HASH = /^\$(?:1|2[abxy]|5|6|y|gy|7)\$[./A-Za-z0-9$=,]{8,}$/;
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
  if (crypted && !HASH.test(text)) fail('the password is not a crypt(3) hash that chpasswd -e accepts ($1$, $2b$, $5$, $6$, $y$, ...)');
  const account = findAccount(sys, username);
  if (!account) fail(`user '${username}' does not exist`);
  // System accounts (daemon, www-data) get no password from the panel; root and people do.
  if (account!.uid > 0 && account!.uid < 1000) fail(`user '${username}' is a system account (uid ${account!.uid}); only root and uid 1000 and above are allowed`);
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

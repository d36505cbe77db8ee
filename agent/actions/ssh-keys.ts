// guest-ssh-{get,add,remove}-authorized-keys, as qemu-ga: ~USER/.ssh/authorized_keys, owned by the
// user, 0700 and 0600. All file work goes through the user-tree door (no link followed, nothing
// done by a path the user can change, the file read only if it is a small regular file of the
// user's). Keys are parsed and compared by their decoded blob, and checked before anything is read.

import { Account, findAccount } from '../os/accounts';
import type { System } from '../os/system';
import { inUserHome, UserDir, UserTreeError } from '../os/user-tree';
import { QgaError } from '../wire/reply';
import { BadKeyLine, keyId, keyOf, KeyLine, parseKeyLine } from './ssh-key-line';

/** The largest authorized_keys read or written (about 1,400 RSA-4096 keys). */
export const MAX_FILE = 1 << 20;

const fail = (desc: string): never => { throw new QgaError('GenericError', desc); };

/** Lines are handled as bytes (latin1 strings): a rewrite keeps every byte of the customer's lines. */
const asBytes = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

export interface Key { line: string; key: KeyLine }

/**
 * The keys of a request, checked: an empty string is no key and is skipped (virsh sends one for
 * the last newline of a keys file, and qemu-ga accepts it); anything else must be a key line.
 * The same key twice must come with the same options.
 */
export function checkKeys(keys: string[]): Key[] {
  const out = new Map<string, Key>();
  keys.forEach((text, i) => {
    if (text.trim() === '') return;
    const line = asBytes(text.trim());
    let key: KeyLine;
    try {
      key = parseKeyLine(line);
    } catch (e) {
      if (!(e instanceof BadKeyLine)) throw e;
      return fail(`invalid OpenSSH public key in keys[${i}] ('${text.slice(0, 40).replace(/[^\x20-\x7e]/g, '?')}...'): ${e.message}`);
    }
    const twin = out.get(keyId(key));
    if (!twin) out.set(keyId(key), { line, key });
    else if (twin.key.options !== key.options) fail(`keys[${i}] is a key given earlier in keys with other options; give each key once`);
  });
  return [...out.values()];
}

function account(sys: System, username: string): Account {
  return findAccount(sys, username) ?? fail(`failed to lookup user '${username}'`);
}

/** Runs WORK in the user's home, door refusals becoming qemu-ga errors. */
function inHome<T>(sys: System, a: Account, work: (home: UserDir) => T): T {
  if (!a.home.startsWith('/')) fail(`the home directory '${a.home}' of '${a.name}' is not an absolute path`);
  try {
    return inUserHome(sys.at(a.home), a.home, a, work);
  } catch (e) {
    if (e instanceof UserTreeError) fail(e.message);
    throw e;
  }
}

/** The file's lines, as bytes; none when there is no .ssh or no file. */
function readLines(ssh: UserDir | null): string[] {
  const text = ssh?.readFile('authorized_keys', MAX_FILE)?.toString('latin1') ?? '';
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Writes through the .ssh already opened for reading, or a new one: never a second lookup of a name the user can swap. */
function writeLines(home: UserDir, ssh: UserDir | null, a: Account, lines: string[]): void {
  const data = Buffer.from(lines.length ? lines.join('\n') + '\n' : '', 'latin1');
  if (data.length > MAX_FILE) fail(`${a.home}/.ssh/authorized_keys would be larger than ${MAX_FILE} bytes; not written`);
  (ssh ?? home.ensureDir('.ssh', 0o700)).replaceFile('authorized_keys', data, 0o600);
}

const isKeyLine = (l: string): boolean => l.trim() !== '' && !l.trim().startsWith('#');

export function getKeys(sys: System, username: string): { keys: string[] } {
  const a = account(sys, username);
  const lines = inHome(sys, a, (home) => readLines(home.dir('.ssh')));
  return { keys: lines.filter(isKeyLine).map((l) => Buffer.from(l.trim(), 'latin1').toString('utf8')) };
}

/**
 * After add, each given key is in the file exactly once, with the given options: a key already
 * there alone with the same options is left as it is (its comment too); otherwise its lines are
 * replaced by the given line, at the place of the first. Other lines stay as they are.
 */
export function mergeKeys(current: string[], wanted: Key[]): string[] {
  const byId = new Map(wanted.map((w) => [keyId(w.key), w]));
  const found = new Map<string, string[]>();
  const out: Array<string | { id: string }> = [];
  for (const line of current) {
    const k = keyOf(line);
    const id = k && keyId(k);
    if (!id || !byId.has(id)) { out.push(line); continue; }
    if (!found.has(id)) { found.set(id, []); out.push({ id }); }
    found.get(id)!.push(line);
  }
  for (const w of wanted) if (!found.has(keyId(w.key))) out.push(w.line);
  return out.map((l) => {
    if (typeof l === 'string') return l;
    const lines = found.get(l.id)!, w = byId.get(l.id)!;
    return lines.length === 1 && keyOf(lines[0])!.options === w.key.options ? lines[0] : w.line;
  });
}

/** `reset` replaces the whole file with the given keys. */
export function addKeys(sys: System, username: string, keys: string[], reset: boolean): Record<string, never> {
  const wanted = checkKeys(keys);
  const a = account(sys, username);
  return inHome(sys, a, (home) => {
    const ssh = home.dir('.ssh');
    const current = reset ? [] : readLines(ssh);
    const out = mergeKeys(current, wanted);
    if (reset || out.join('\n') !== current.join('\n')) writeLines(home, ssh, a, out);
    return {};
  });
}

/** Removes every line with a given key, whatever its options or comment. */
export function removeKeys(sys: System, username: string, keys: string[]): Record<string, never> {
  const gone = new Set(checkKeys(keys).map((k) => keyId(k.key)));
  const a = account(sys, username);
  return inHome(sys, a, (home) => {
    const ssh = home.dir('.ssh');
    const current = readLines(ssh);
    const out = current.filter((l) => { const k = keyOf(l); return !(k && gone.has(keyId(k))); });
    if (out.length !== current.length) writeLines(home, ssh, a, out);
    return {};
  });
}

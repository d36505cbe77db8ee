// guest-ssh-{get,add,remove}-authorized-keys, as qemu-ga: ~USER/.ssh/authorized_keys, owned by the
// user, 0700 and 0600. A symlink at .ssh or authorized_keys (a user could plant one pointing at
// /etc/shadow) is refused, never followed; keys are checked before anything is written.

import * as fs from 'fs';
import * as path from 'path';
import { Account, findAccount } from '../os/accounts';
import type { System } from '../os/system';
import { QgaError } from '../wire/reply';

const KEY_TYPES = /^(?:ssh-(?:rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com|ssh-(?:rsa|ed25519)-cert-v01@openssh\.com)$/;

const fail = (desc: string): never => { throw new QgaError('GenericError', desc); };

/** One authorized_keys line: [options] type base64 [comment]; no newline, no NUL. */
export function checkKey(key: string): void {
  if (/[\r\n\0]/.test(key) || key.length > 16384) fail('invalid OpenSSH public key: it must be one line of at most 16384 characters');
  const words = key.trim().split(/\s+/);
  const i = words.findIndex((w) => KEY_TYPES.test(w));
  if (i < 0 || !/^[A-Za-z0-9+/]+={0,3}$/.test(words[i + 1] ?? '')) fail(`invalid OpenSSH public key: '${key.slice(0, 40)}...'`);
}

function account(sys: System, username: string): Account {
  return findAccount(sys, username) ?? fail(`failed to lookup user '${username}'`);
}

function paths(a: Account): { dir: string; file: string } {
  const dir = path.join(a.home, '.ssh');
  return { dir, file: path.join(dir, 'authorized_keys') };
}

function refuseLink(sys: System, p: string): void {
  try {
    if (fs.lstatSync(sys.at(p)).isSymbolicLink()) fail(`${p} is a symbolic link; refusing to follow it`);
  } catch (e) {
    if (e instanceof QgaError) throw e;
  }
}

/** Every line of the file, comments and blank lines included, so a rewrite keeps them. */
function readLines(sys: System, file: string): string[] {
  const lines = (sys.readText(file) ?? '').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

const isKey = (l: string): boolean => l.trim() !== '' && !l.trim().startsWith('#');

function readKeys(sys: System, file: string): string[] {
  return readLines(sys, file).filter(isKey).map((l) => l.trim());
}

export function getKeys(sys: System, username: string): { keys: string[] } {
  const a = account(sys, username);
  const p = paths(a);
  refuseLink(sys, p.dir);
  refuseLink(sys, p.file);
  return { keys: readKeys(sys, p.file) };
}

function writeKeys(sys: System, a: Account, lines: string[]): void {
  const p = paths(a);
  refuseLink(sys, a.home);
  refuseLink(sys, p.dir);
  refuseLink(sys, p.file);
  const dir = sys.at(p.dir);
  if (!fs.existsSync(sys.at(a.home))) fail(`the home directory ${a.home} of '${a.name}' does not exist`);
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.chownSync(dir, a.uid, a.gid);
  }
  sys.writeText(p.file, lines.length ? lines.join('\n') + '\n' : '', { mode: 0o600, uid: a.uid, gid: a.gid });
}

const sameKey = (a: string, b: string) => a.trim().split(/\s+/).slice(0, 3).join(' ') === b.trim().split(/\s+/).slice(0, 3).join(' ');

export function addKeys(sys: System, username: string, keys: string[], reset: boolean): Record<string, never> {
  keys.forEach(checkKey);
  const a = account(sys, username);
  const current = reset ? [] : readLines(sys, paths(a).file);
  const out = [...current];
  for (const k of keys) if (!out.some((x) => isKey(x) && sameKey(x, k))) out.push(k.trim());
  if (reset || out.length !== current.length) writeKeys(sys, a, out);
  return {};
}

export function removeKeys(sys: System, username: string, keys: string[]): Record<string, never> {
  keys.forEach(checkKey);
  const a = account(sys, username);
  const current = readLines(sys, paths(a).file);
  const out = current.filter((x) => !(isKey(x) && keys.some((k) => sameKey(x, k))));
  if (out.length !== current.length) writeKeys(sys, a, out);
  return {};
}

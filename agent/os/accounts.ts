// Local accounts from /etc/passwd under the root: the password, SSH key and exec commands need a
// user's uid, gid and home, and refuse names that are not there.

import type { System } from './system';

export interface Account { name: string; uid: number; gid: number; home: string; shell: string }

export function parsePasswd(text: string): Account[] {
  const out: Account[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !f[0] || line.startsWith('#')) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5], shell: f[6] });
  }
  return out;
}

export function findAccount(sys: System, name: string): Account | null {
  return parsePasswd(sys.readText('/etc/passwd') ?? '').find((a) => a.name === name) ?? null;
}

/** A user name as the shadow tools accept it, so nothing else can shift fields or look like an option. */
export const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?$/;

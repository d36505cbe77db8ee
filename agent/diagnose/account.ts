// The account's side of a login: passwd, shadow (locked, expired, no password), the shell, the home
// directory, /etc/nologin. Reads files of the system tree only; a password hash never leaves here.

import type { Account } from '../os/accounts';
import type { Host } from '../os/host';
import { Finding, ok, problem, warning } from './finding';

export interface Shadow { password: string; lastchg: number | null; max: number | null; inactive: number | null; expire: number | null }

const field = (s: string | undefined): number | null => (s && /^\d+$/.test(s) ? Number(s) : null);

export function parseShadow(text: string, user: string): Shadow | null {
  const line = text.split('\n').find((l) => l.startsWith(`${user}:`));
  if (!line) return null;
  const f = line.split(':');
  return { password: f[1] ?? '', lastchg: field(f[2]), max: field(f[4]), inactive: field(f[6]), expire: field(f[7]) };
}

const day = (d: number): string => new Date(d * 86_400_000).toISOString().slice(0, 10);

/** What the password field allows: a password login, none (locked, or never set), or any password-less one. */
export type PasswordState = 'set' | 'locked' | 'none' | 'empty' | 'unknown';

export function shadowFindings(tree: Host, a: Account, today: number): { findings: Finding[]; password: PasswordState } {
  const text = tree.read('/etc/shadow');
  if (text === null) return { findings: [warning('password', 'the shadow file cannot be read: password state unknown', ['/etc/shadow: unreadable'])], password: 'unknown' };
  const s = parseShadow(text, a.name);
  if (!s) return { findings: [warning('password', `'${a.name}' has no line in /etc/shadow: PAM refuses a password login`, ['/etc/shadow: no entry'])], password: 'none' };
  const out: Finding[] = [];
  let password: PasswordState = 'set';
  const p = s.password;
  if (p === '') { password = 'empty'; out.push(warning('password', 'the password is empty: sshd refuses it unless PermitEmptyPasswords is yes', ['/etc/shadow field 2: empty'])); }
  else if (p.startsWith('!')) {
    password = 'locked';
    out.push(problem('password', `the password is locked (passwd -l / usermod -L): password logins fail; keys still work where sshd uses PAM (UsePAM yes)`, [`/etc/shadow field 2 starts with '!'${p.length > 2 && p[1] === '$' ? ' before a hash (passwd -u restores it)' : ''}`]));
  } else if (p === '*' || p === '!!' || p === 'x' || !/^[$A-Za-z0-9./]/.test(p)) {
    password = 'none';
    out.push(warning('password', 'no password is set: only keys can log in', [`/etc/shadow field 2: '${p.slice(0, 2)}'`]));
  } else out.push(ok('password', 'a password is set'));
  if (s.expire !== null && s.expire <= today) {
    out.push(problem('expiry', `the account expired on ${day(s.expire)}: every login is refused (chage -E -1 ${a.name} lifts it)`, [`/etc/shadow field 8: ${s.expire} (days since 1970-01-01)`]));
  }
  if (s.lastchg === 0) out.push(warning('expiry', 'the password must be changed at the next login (passwd -e): non-interactive logins fail', ['/etc/shadow field 3: 0']));
  else if (s.lastchg !== null && s.max !== null && s.max < 99_999 && s.lastchg + s.max < today) {
    const end = s.lastchg + s.max;
    const ev = [`/etc/shadow fields 3, 5, 7: ${s.lastchg}, ${s.max}, ${s.inactive ?? ''}`];
    if (s.inactive !== null && end + s.inactive < today) out.push(problem('expiry', `the password expired on ${day(end)} and the ${s.inactive}-day grace ended: the account is locked out`, ev));
    else out.push(warning('expiry', `the password expired on ${day(end)}: the login asks for a new one`, ev));
  }
  return { findings: out, password };
}

export function shellFindings(tree: Host, a: Account): Finding[] {
  const shell = a.shell || '/bin/sh';
  const ev = [`/etc/passwd field 7: '${a.shell}'`];
  if (/\/(nologin|false)$/.test(shell)) return [problem('shell', `the shell ${shell} refuses every login`, ev)];
  const st = tree.stat(shell);
  if ('code' in st) return [problem('shell', `the shell ${shell} does not exist (${st.code}): sshd refuses the user`, ev)];
  if (st.dir || !st.executable) return [problem('shell', `the shell ${shell} is not an executable file: sshd refuses the user`, ev)];
  const shells = (tree.read('/etc/shells') ?? '').split('\n').map((l) => l.trim());
  if (!shells.includes(shell)) return [warning('shell', `${shell} is not in /etc/shells: sshd accepts it, but FTP, chsh and pam_shells refuse it`, ev)];
  return [ok('shell', `the shell ${shell} is a valid login shell`, ev)];
}

export function homeFindings(tree: Host, a: Account): Finding[] {
  const ev = [`/etc/passwd field 6: '${a.home}'`];
  if (!a.home.startsWith('/')) return [problem('home', `the home directory '${a.home}' is not an absolute path`, ev)];
  const st = tree.stat(a.home);
  if ('code' in st) return [problem('home', `the home directory ${a.home} does not exist (${st.code}): the login starts in /, and no key in it can be found`, ev)];
  if (!st.dir) return [problem('home', `the home directory ${a.home} is not a directory`, ev)];
  return [ok('home', `the home directory ${a.home} exists`, ev)];
}

/** pam_nologin: /var/run/nologin, then /etc/nologin, refuse every user but root. */
export function nologinFindings(tree: Host, a: Account): Finding[] {
  for (const f of ['/var/run/nologin', '/run/nologin', '/etc/nologin']) {
    const text = tree.read(f);
    if (text === null) continue;
    const first = text.split('\n')[0].slice(0, 200);
    return [a.uid === 0 ? warning('nologin', `${f} exists: every user but root is refused`, [`${f}: '${first}'`]) : problem('nologin', `${f} exists: every login but root's is refused (pam_nologin)`, [`${f}: '${first}'`])];
  }
  return [ok('nologin', 'no /etc/nologin')];
}

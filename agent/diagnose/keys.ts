// The user's authorized_keys files as sshd would use them: how many keys, and what sshd's
// StrictModes refuses (the file, and each directory up to the home, must belong to the user or
// root and be writable by nobody else). Read through the user-tree door: no link is followed,
// nothing is changed.

import { keyOf } from '../actions/ssh-key-line';
import type { Account } from '../os/accounts';
import type { System } from '../os/system';
import { inspectUserPath, InspectedEntry, UserTreeError } from '../os/user-tree';
import { Finding, notChecked, ok, problem, warning } from './finding';
import type { SshdConfig } from './sshd';

const MAX = 1 << 20;

const octal = (m: number | undefined): string => (m ?? 0).toString(8).padStart(4, '0');

/** AuthorizedKeysFile entries as paths below the home ("%h/.ssh/x" and ".ssh/x"); others are not ours to read. */
export function keyFiles(config: SshdConfig | null, a: Account): { inHome: string[][]; elsewhere: string[] } {
  const spec = (config?.get('authorizedkeysfile')?.[0] ?? '.ssh/authorized_keys .ssh/authorized_keys2').split(/\s+/).filter((x) => x && x !== 'none');
  const out = { inHome: [] as string[][], elsewhere: [] as string[] };
  for (const s of spec) {
    const p = s.replace(/%%/g, '\0').replace(/%u/g, a.name).replace(/%U/g, String(a.uid)).replace(/\0/g, '%');
    const rel = p.startsWith('%h/') ? p.slice(3) : p.startsWith('/') || p.includes('%') ? null : p;
    if (rel === null) out.elsewhere.push(p.replace(/%h/g, a.home));
    else out.inHome.push(rel.split('/').filter(Boolean));
  }
  return out;
}

/** What StrictModes says of one entry of the path: owner root or the user, no group or other write. */
function strictProblem(e: InspectedEntry, a: Account): string | null {
  if (e.uid !== undefined && e.uid !== 0 && e.uid !== a.uid) return `${e.path} is owned by uid ${e.uid}, not by '${a.name}' or root`;
  if (e.mode !== undefined && e.mode & 0o022) return `${e.path} is writable by ${e.mode & 0o020 ? 'its group' : 'others'} (mode ${octal(e.mode)})`;
  return null;
}

export function keyFindings(sys: System, a: Account, config: SshdConfig | null): { findings: Finding[]; keys: number } {
  const strict = (config?.get('strictmodes')?.[0] ?? 'yes') !== 'no';
  const files = keyFiles(config, a);
  const findings: Finding[] = [];
  let keys = 0;
  const missing: string[] = [];
  for (const p of files.elsewhere) findings.push(notChecked('keys', `AuthorizedKeysFile ${p} is outside the home directory: not inspected`));
  if (!a.home.startsWith('/')) return { findings, keys };
  for (const parts of files.inHome) {
    let r: ReturnType<typeof inspectUserPath>;
    try { r = inspectUserPath(sys.at(a.home), a.home, a, parts, MAX); } catch (e) {
      if (!(e instanceof UserTreeError)) throw e;
      findings.push(notChecked('keys', e.message));
      continue;
    }
    const last = r.entries[r.entries.length - 1];
    const shown = `${a.home.replace(/\/$/, '')}/${parts.join('/')}`;
    const ev = r.entries.filter((e) => e.kind !== 'missing').map((e) => `${e.path}: ${e.kind}${e.mode !== undefined ? ` mode ${octal(e.mode)}` : ''}${e.uid !== undefined ? ` uid ${e.uid}` : ''}`);
    if (last.kind === 'missing') { missing.push(shown); continue; }
    if (last.kind === 'link') { findings.push(warning('keys', `${last.path} is a symbolic link: sshd follows it, this check does not`, ev)); continue; }
    if (last.path !== shown) { findings.push(problem('keys', `${last.path} is not a directory: ${shown} cannot exist`, ev)); continue; }
    if (last.kind !== 'file') { findings.push(problem('keys', `${shown} is not a regular file`, ev)); continue; }
    const bad = r.entries.map((e) => strictProblem(e, a)).filter((x): x is string => x !== null);
    const n = r.data ? r.data.toString('latin1').split('\n').filter((l) => keyOf(l.trim()) !== null).length : 0;
    if (bad.length && strict) { findings.push(problem('keys', `sshd (StrictModes yes) ignores ${shown}: ${bad.join('; ')}`, ev)); continue; }
    if (bad.length) findings.push(warning('keys', `StrictModes is off, so sshd reads ${shown} although ${bad.join('; ')}`, ev));
    if (!r.data) { findings.push(warning('keys', `${shown} was not read (not one link, or larger than ${MAX} bytes, or not the user's or root's)`, ev)); continue; }
    keys += n;
    findings.push(n ? ok('keys', `${shown} holds ${n} key${n === 1 ? '' : 's'}`, ev) : warning('keys', `${shown} holds no valid key line`, ev));
  }
  if (!findings.length) findings.push(ok('keys', `no authorized keys file (${missing.join(', ')})`));
  return { findings, keys };
}

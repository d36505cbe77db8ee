// Lock-outs after failed attempts: fail2ban's bans in its sshd jail (fail2ban-client status, when
// installed) and pam_faillock's record of failures for the user (its tally file, read directly).

import type { Host } from '../os/host';
import type { System } from '../os/system';
import { Finding, notChecked, ok, problem, warning } from './finding';

export function parseFail2ban(text: string): { banned: number; list: string[] } | null {
  const n = /Currently banned:\s*(\d+)/.exec(text);
  if (!n) return null;
  const list = /Banned IP list:\s*(.*)/.exec(text)?.[1].trim().split(/\s+/).filter(Boolean) ?? [];
  return { banned: Number(n[1]), list };
}

export async function fail2banFindings(sys: System): Promise<Finding[]> {
  const tool = sys.which('fail2ban-client');
  if (!tool) return [notChecked('fail2ban', 'not checked: fail2ban-client is not installed')];
  const r = await sys.run(tool, ['status', 'sshd'], { timeoutMs: 10_000 });
  const s = r.code === 0 ? parseFail2ban(r.stdout) : null;
  if (!s) return [ok('fail2ban', `fail2ban has no sshd jail running (${(r.stderr || r.stdout).trim().split('\n')[0]?.slice(0, 160) ?? ''})`)];
  if (!s.banned) return [ok('fail2ban', 'the sshd jail of fail2ban bans no address')];
  return [warning('fail2ban', `fail2ban's sshd jail bans ${s.banned} address${s.banned === 1 ? '' : 'es'}: a client from one of them cannot connect (fail2ban-client set sshd unbanip ADDRESS)`, s.list.slice(0, 50))];
}

/** One failure pam_faillock recorded: source[52], reserved u16, status u16, time u64 (64 bytes, host order). */
export interface FailRecord { source: string; valid: boolean; time: number }

const STATUS_VALID = 0x1;

export function parseTally(b: Buffer): FailRecord[] {
  const out: FailRecord[] = [];
  for (let o = 0; o + 64 <= b.length; o += 64) {
    const end = b.indexOf(0, o);
    out.push({ source: b.toString('latin1', o, end >= o && end < o + 52 ? end : o + 52), valid: (b.readUInt16LE(o + 54) & STATUS_VALID) !== 0, time: Number(b.readBigUInt64LE(o + 56)) });
  }
  return out;
}

function faillockSettings(tree: Host): { deny: number; dir: string } {
  const conf = tree.read('/etc/security/faillock.conf') ?? '';
  const get = (k: string): string | undefined => new RegExp(`^\\s*${k}\\s*=\\s*(\\S+)`, 'm').exec(conf)?.[1];
  return { deny: Number(get('deny') ?? 3) || 3, dir: get('dir') ?? '/var/run/faillock' };
}

/** Whether any PAM service of the tree uses pam_faillock (without it, records lock nobody out). */
function faillockInPam(tree: Host): boolean {
  return tree.list('/etc/pam.d').some((f) => /pam_faillock\.so/.test(tree.read(`/etc/pam.d/${f}`) ?? ''));
}

/**
 * The tally file is read directly: `faillock --user` is not read-only (it chmods the file to 0660),
 * and the file is pam_faillock's own record format.
 */
export function faillockFindings(tree: Host, user: string): Finding[] {
  const { deny, dir } = faillockSettings(tree);
  const file = `${dir.replace(/\/$/, '')}/${user}`;
  const data = tree.readBytes(file);
  if (data === null) return [ok('faillock', `no failed attempts recorded for '${user}' (${file} does not exist)`)];
  const valid = parseTally(data).filter((r) => r.valid);
  const ev = valid.slice(-10).map((r) => `${new Date(r.time * 1000).toISOString().replace('T', ' ').slice(0, 19)} ${r.source} V`);
  if (!valid.length) return [ok('faillock', `no failed attempts recorded for '${user}'`)];
  const used = faillockInPam(tree);
  if (valid.length >= deny && used) return [problem('faillock', `pam_faillock locks '${user}' out: ${valid.length} failures, deny = ${deny} (faillock --user ${user} --reset unlocks)`, ev)];
  return [warning('faillock', `${valid.length} failed attempt${valid.length === 1 ? '' : 's'} recorded for '${user}' (deny = ${deny}${used ? '' : ', pam_faillock is not in /etc/pam.d: no lock-out'})`, ev)];
}

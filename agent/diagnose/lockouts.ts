// Lock-outs after failed attempts: fail2ban's bans in its sshd jail and pam_faillock's record of
// failures for the user. Both tools are optional and only read (status, --user without --reset).

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

/** faillock's records ("2026-01-02 10:00:00 RHOST 192.0.2.1 V"): the valid ones count towards deny. */
export function parseFaillock(text: string): { valid: string[]; all: number } {
  const rows = text.split('\n').filter((l) => /^\d{4}-\d\d-\d\d /.test(l.trim()));
  return { valid: rows.filter((l) => /\sV\s*$/.test(l)).map((l) => l.trim().replace(/\s+/g, ' ')), all: rows.length };
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

export async function faillockFindings(sys: System, tree: Host, user: string): Promise<Finding[]> {
  const tool = sys.which('faillock');
  if (!tool) return [notChecked('faillock', 'not checked: faillock is not installed')];
  const { deny, dir } = faillockSettings(tree);
  const r = await sys.run(tool, ['--dir', sys.at(dir), '--user', user], { timeoutMs: 10_000 });
  if (r.code !== 0) return [warning('faillock', `faillock --user ${user} failed: ${r.stderr.trim().split('\n')[0]?.slice(0, 200) ?? r.code}`)];
  const { valid } = parseFaillock(r.stdout);
  if (!valid.length) return [ok('faillock', `no failed attempts recorded for '${user}'`)];
  const used = faillockInPam(tree);
  if (valid.length >= deny && used) return [problem('faillock', `pam_faillock locks '${user}' out: ${valid.length} failures, deny = ${deny} (faillock --user ${user} --reset unlocks)`, valid.slice(-10))];
  return [warning('faillock', `${valid.length} failed attempt${valid.length === 1 ? '' : 's'} recorded for '${user}' (deny = ${deny}${used ? '' : ', pam_faillock is not in /etc/pam.d: no lock-out'})`, valid.slice(-10))];
}

// sshd's side of a login: installed, its effective settings for this user (`sshd -T -C`, which
// applies Match blocks; the config file itself when sshd -T cannot run), running, and listening on
// which ports of this network namespace.

import type { Account } from '../os/accounts';
import type { Host } from '../os/host';
import type { System } from '../os/system';
import { Finding, ok, problem, warning } from './finding';
import { processesNamed, tcpListeners } from './listeners';

/** sshd's settings, lower-case keyword to its values (one entry per line of sshd -T). */
export type SshdConfig = Map<string, string[]>;

export function parseSshdT(text: string): SshdConfig {
  const out: SshdConfig = new Map();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const k = m[1].toLowerCase();
    out.set(k, [...(out.get(k) ?? []), m[2]]);
  }
  return out;
}

const DEFAULTS: Record<string, string> = {
  port: '22', permitrootlogin: 'prohibit-password', passwordauthentication: 'yes', pubkeyauthentication: 'yes', kbdinteractiveauthentication: 'yes',
  usepam: 'no', strictmodes: 'yes', permitemptypasswords: 'no', authorizedkeysfile: '.ssh/authorized_keys .ssh/authorized_keys2',
};

/** The config file read as sshd would for the first value of each keyword, outside Match blocks (no Include). */
export function parseSshdConfig(text: string): SshdConfig {
  const out: SshdConfig = new Map();
  const multi = new Set(['port', 'listenaddress', 'allowusers', 'denyusers', 'allowgroups', 'denygroups']);
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^(\S+)\s*(?:=\s*|\s+)(.+)$/.exec(line);
    if (!m) continue;
    const k = m[1].toLowerCase();
    if (k === 'match') break;
    if (multi.has(k)) out.set(k, [...(out.get(k) ?? []), m[2]]);
    else if (!out.has(k)) out.set(k, [k === 'authorizedkeysfile' ? m[2] : m[2].toLowerCase()]);
  }
  for (const [k, v] of Object.entries(DEFAULTS)) if (!out.has(k)) out.set(k, [v]);
  return out;
}

export interface SshdState { config: SshdConfig | null; ports: number[]; findings: Finding[] }

async function effectiveConfig(sys: System, sshd: string, user: string): Promise<{ config: SshdConfig | null; finding: Finding }> {
  const file = sys.root === '/' ? [] : ['-f', sys.at('/etc/ssh/sshd_config')];
  const r = await sys.run(sshd, ['-T', ...file, '-C', `user=${user},host=,addr=`], { timeoutMs: 10_000 });
  if (r.code === 0) return { config: parseSshdT(r.stdout), finding: ok('sshd-config', `effective settings for '${user}' from sshd -T`) };
  // sshd ends its messages with CR LF.
  const why = (r.stderr.replace(/\r/g, '').trim().split('\n')[0] ?? '').slice(0, 200) || `exit ${r.code ?? r.signal}`;
  const text = sys.readText('/etc/ssh/sshd_config');
  if (text === null) return { config: null, finding: problem('sshd-config', `sshd -T failed (${why}) and /etc/ssh/sshd_config cannot be read: sshd cannot start this way`) };
  return { config: parseSshdConfig(text), finding: warning('sshd-config', `sshd -T failed: ${why}; sshd may refuse to start. Settings below are read from /etc/ssh/sshd_config (Match blocks and Include not applied)`) };
}

const glob = (pattern: string, s: string): boolean =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(s);

/** Group names of the account: its primary group and the supplementary ones in /etc/group. */
export function groupsOf(tree: Host, a: Account): string[] {
  const out: string[] = [];
  for (const line of (tree.read('/etc/group') ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 4) continue;
    if (Number(f[2]) === a.gid || f[3].split(',').includes(a.name)) out.push(f[0]);
  }
  return out;
}

function accessFindings(c: SshdConfig, tree: Host, a: Account): Finding[] {
  const out: Finding[] = [];
  const list = (k: string): string[] => (c.get(k) ?? []).flatMap((v) => v.split(/\s+/)).filter(Boolean);
  const users = (k: string) => list(k).filter((p) => glob(p.split('@')[0], a.name));
  const allowUsers = list('allowusers'), denyUsers = users('denyusers');
  if (denyUsers.length) out.push(problem('sshd-users', `DenyUsers matches '${a.name}'`, denyUsers.map((p) => `denyusers ${p}`)));
  if (allowUsers.length) {
    const m = users('allowusers');
    if (!m.length) out.push(problem('sshd-users', `AllowUsers is set and does not name '${a.name}'`, [`allowusers ${allowUsers.join(' ')}`]));
    else if (m.every((p) => p.includes('@'))) out.push(warning('sshd-users', `AllowUsers lets '${a.name}' in only from some hosts`, m.map((p) => `allowusers ${p}`)));
  }
  const groups = groupsOf(tree, a);
  const denyGroups = list('denygroups').filter((p) => groups.some((g) => glob(p, g)));
  if (denyGroups.length) out.push(problem('sshd-groups', `DenyGroups matches a group of '${a.name}'`, denyGroups.map((p) => `denygroups ${p}`)));
  const allowGroups = list('allowgroups');
  if (allowGroups.length && !allowGroups.some((p) => groups.some((g) => glob(p, g)))) {
    out.push(problem('sshd-groups', `AllowGroups is set and none of the groups of '${a.name}' (${groups.join(', ') || 'none'}) is in it`, [`allowgroups ${allowGroups.join(' ')}`]));
  }
  const one = (k: string): string => (c.get(k)?.[0] ?? DEFAULTS[k] ?? '').toLowerCase();
  if (a.uid === 0) {
    const prl = one('permitrootlogin');
    if (prl === 'no') out.push(problem('sshd-root', 'PermitRootLogin no: root cannot log in over SSH', [`permitrootlogin ${prl}`]));
    else if (prl !== 'yes') out.push(warning('sshd-root', `PermitRootLogin ${prl}: root logs in with a key only, never with a password`, [`permitrootlogin ${prl}`]));
  }
  if (one('passwordauthentication') === 'no' && !(one('kbdinteractiveauthentication') === 'yes' && one('usepam') === 'yes')) {
    out.push(warning('sshd-password', 'PasswordAuthentication no: password logins are refused, keys only', [`passwordauthentication no`, `kbdinteractiveauthentication ${one('kbdinteractiveauthentication')}`]));
  }
  if (one('pubkeyauthentication') === 'no') out.push(warning('sshd-keys', 'PubkeyAuthentication no: keys are refused, passwords only', ['pubkeyauthentication no']));
  if (!out.length) out.push(ok('sshd-access', `sshd's settings let '${a.name}' in`));
  return out;
}

export async function sshdFindings(sys: System, live: Host, tree: Host, a: Account | null, user: string): Promise<SshdState> {
  const sshd = sys.which('sshd');
  if (!sshd) return { config: null, ports: [22], findings: [problem('sshd', 'sshd is not installed (openssh-server): not found in /usr/sbin, /usr/bin, /sbin or /bin')] };
  const { config, finding } = await effectiveConfig(sys, sshd, user);
  const findings = [ok('sshd', `sshd is installed (${sshd})`), finding];
  const ports = (config?.get('port') ?? ['22']).map(Number).filter((p) => p > 0 && p < 65536);
  if (config && a) findings.push(...accessFindings(config, tree, a));
  const listeners = tcpListeners(live);
  // Socket activation (ssh.socket): systemd holds the port and starts sshd per connection.
  const activated = listeners.filter((l) => ports.includes(l.port) && l.names.includes('systemd'));
  const pids = processesNamed(live, 'sshd');
  if (activated.length) findings.push(ok('sshd-running', 'sshd is started by systemd on each connection (ssh.socket)', activated.map((l) => `${l.address}:${l.port} systemd`)));
  else if (!pids.length) findings.push(problem('sshd-running', 'sshd is not running'));
  else findings.push(ok('sshd-running', `sshd is running`, [`pids ${pids.slice(0, 10).join(' ')}`]));
  const mine = listeners.filter((l) => l.names.includes('sshd') || activated.includes(l));
  const heard = [...new Set(mine.map((l) => l.port))];
  const ev = mine.map((l) => `${l.address}:${l.port} ${l.names.join(',')} (pid ${l.pids.join(' ')})`);
  if (!mine.length) findings.push(problem('sshd-listening', `sshd listens on no TCP port in this network namespace (configured: ${ports.join(', ')})`));
  else if (ports.some((p) => !heard.includes(p))) findings.push(warning('sshd-listening', `sshd listens on ${heard.join(', ')}, but its configuration says ${ports.join(', ')}: it has not been restarted since the change`, ev));
  else findings.push(ok('sshd-listening', `sshd listens on port ${heard.join(', ')}`, ev));
  return { config, ports: [...new Set([...ports, ...heard])], findings };
}

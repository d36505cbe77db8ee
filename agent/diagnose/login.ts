// phoenix-diagnose-login: every reason a login of USER can fail, each with its evidence, so the
// support answer to "I can't log in" is one call. Read-only: files are read, tools are asked
// (sshd -T, nft list, iptables-save, fail2ban-client status), nothing is changed.
// A tool that is not installed is "not checked", never an error.

import { findAccount, USER_NAME } from '../os/accounts';
import { createHost, Host } from '../os/host';
import { freeSpace, writeProblem } from '../os/probe';
import type { System } from '../os/system';
import { QgaError } from '../wire/reply';
import { homeFindings, nologinFindings, shadowFindings, shellFindings } from './account';
import { Finding, ok, problem, warning } from './finding';
import { firewallFindings } from './firewall';
import { keyFindings } from './keys';
import { faillockFindings, fail2banFindings } from './lockouts';
import { sshdFindings } from './sshd';

export interface LoginDiagnosis {
  username: string;
  /** How many findings are problems (each alone can stop a login). */
  problems: number;
  findings: Finding[];
}

async function rootFindings(sys: System): Promise<Finding[]> {
  const code = writeProblem(sys.at('/'));
  if (code === 'EROFS') return [warning('root-fs', 'the root file system is read-only: logins work, but nothing can be written (a forced password change, lastlog, shell history)', ['access(/, W_OK): EROFS'])];
  const free = await freeSpace(sys.at('/'));
  if (free && (free.bytes < 64 << 10 || free.inodes === 0)) {
    return [warning('root-fs', 'the root file system is full: sessions that write (a forced password change, lastlog, shell history, X authority) fail', [`free: ${free.bytes} bytes, ${free.inodes ?? '?'} inodes`])];
  }
  return [ok('root-fs', 'the root file system is writable and has room')];
}

export async function diagnoseLogin(sys: System, live: Host, username: string): Promise<LoginDiagnosis> {
  if (!USER_NAME.test(username)) throw new QgaError('GenericError', "Parameter 'username' is not a user name (1-32 of A-Z a-z 0-9 _ . -, not starting with - or .)");
  const tree = sys.root === '/' ? live : createHost(sys.root);
  const today = Math.floor(Date.now() / 86_400_000);
  const a = findAccount(sys, username);
  const findings: Finding[] = [];
  let password: string = 'unknown';
  if (!a) findings.push(problem('account', `there is no user '${username}' in /etc/passwd`));
  else {
    findings.push(ok('account', `'${username}' exists`, [`uid ${a.uid}, gid ${a.gid}, home ${a.home}, shell ${a.shell}`]));
    const s = shadowFindings(tree, a, today);
    password = s.password;
    findings.push(...s.findings, ...shellFindings(tree, a), ...homeFindings(tree, a));
  }
  const sshd = await sshdFindings(sys, live, tree, a, username);
  findings.push(...sshd.findings);
  if (a) {
    const k = keyFindings(sys, a, sshd.config);
    findings.push(...k.findings);
    if (!k.keys && password !== 'set' && password !== 'empty' && password !== 'unknown') {
      findings.push(problem('credentials', `'${username}' has no usable password and no key: nothing can log in`));
    }
    findings.push(...nologinFindings(tree, a));
  }
  findings.push(...await firewallFindings(sys, sshd.ports));
  findings.push(...await fail2banFindings(sys));
  findings.push(...faillockFindings(tree, username));
  findings.push(...await rootFindings(sys));
  return { username, problems: findings.filter((f) => f.status === 'problem').length, findings };
}

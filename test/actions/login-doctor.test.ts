// phoenix-diagnose-login through the real agent, each reason caused: accounts, shadow fields,
// shells, homes, keys and StrictModes in a root tree (--os-root), sshd's effective settings from
// the real `sshd -T -f TREE/etc/ssh/sshd_config`, pam_faillock records read by the real faillock;
// a real sshd on a random port in a network namespace, with real nftables and iptables rules
// dropping that port. Read-only: the tree's checksum is the same after every call.
//
// Not caused for real: pam_faillock writes its records when PAM fails a login; making PAM fail
// here would need the machine's PAM stack changed, so the test writes records in its format (64
// bytes each; the real faillock tool lists them, checked below). fail2ban is not installed here: its
// "not checked" answer is asserted.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Agent, startAgent, tempDir, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { makeTree, Tree } from '../helpers/root-tree';

interface Finding { check: string; status: string; desc: string; evidence?: string[] }
interface Diagnosis { username: string; problems: number; findings: Finding[] }

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@example';
const today = Math.floor(Date.now() / 86_400_000);

/** Users, each set up to fail (or not) in one way; uids are the tree's, no user of this machine. */
const USERS: Array<[string, number, string, string]> = [
  // name, uid, shadow password field and aging fields, shell
  ['alice', 2001, '$6$salt$hash:19000:0:99999:7:::', '/bin/bash'],
  ['locked', 2002, '!$6$salt$hash:19000:0:99999:7:::', '/bin/bash'],
  ['expired', 2003, `$6$salt$hash:19000:0:99999:7::${today - 1}:`, '/bin/bash'],
  ['pwexp', 2004, '$6$salt$hash:100:0:10:7:5::', '/bin/bash'],
  ['noshell', 2005, '$6$salt$hash:19000:0:99999:7:::', '/usr/sbin/nologin'],
  ['badshell', 2006, '$6$salt$hash:19000:0:99999:7:::', '/bin/zsh'],
  ['nohome', 2007, '$6$salt$hash:19000:0:99999:7:::', '/bin/bash'],
  ['nocred', 2008, '*:19000:0:99999:7:::', '/bin/bash'],
  ['withkey', 2009, '*:19000:0:99999:7:::', '/bin/bash'],
  ['grpw', 2010, '*:19000:0:99999:7:::', '/bin/bash'],
  ['otherown', 2011, '*:19000:0:99999:7:::', '/bin/bash'],
  ['linked', 2012, '*:19000:0:99999:7:::', '/bin/bash'],
  ['denied', 2013, '$6$salt$hash:19000:0:99999:7:::', '/bin/bash'],
  ['outsider', 2014, '$6$salt$hash:19000:0:99999:7:::', '/bin/bash'],
  ['faill', 2015, '$6$salt$hash:19000:0:99999:7:::', '/bin/bash'],
];

function doctorTree(port: number): Tree {
  const t = makeTree();
  const passwd = USERS.map(([n, uid, , shell]) => `${n}:x:${uid}:${uid}::/home/${n}:${shell}`).join('\n');
  t.write('/etc/passwd', `${t.read('/etc/passwd')}${passwd}\n`);
  t.write('/etc/group', `${t.read('/etc/group')}${USERS.map(([n, uid]) => `${n}:x:${uid}:`).join('\n')}\nsshusers:x:3000:alice\n`);
  t.write('/etc/shadow', `root:*:19000:0:99999:7:::\n${USERS.map(([n, , sh]) => `${n}:${sh}`).join('\n')}\n`, 0o640);
  t.write('/etc/shells', '/bin/sh\n/bin/bash\n');
  for (const sh of ['/bin/bash', '/bin/sh', '/usr/sbin/nologin']) t.write(sh, '#!/bin/true\n', 0o755);
  for (const [n, uid] of USERS) {
    if (n === 'nohome') continue;
    fs.mkdirSync(t.file(`/home/${n}/.ssh`), { recursive: true, mode: 0o700 });
    fs.chownSync(t.file(`/home/${n}`), uid, uid);
    fs.chmodSync(t.file(`/home/${n}`), 0o750);
    fs.chownSync(t.file(`/home/${n}/.ssh`), uid, uid);
  }
  const keyFile = (n: string, uid: number, mode = 0o600) => { t.write(`/home/${n}/.ssh/authorized_keys`, `${KEY}\n`, mode); fs.chownSync(t.file(`/home/${n}/.ssh/authorized_keys`), uid, uid); };
  keyFile('withkey', 2009);
  keyFile('grpw', 2010);
  fs.chmodSync(t.file('/home/grpw/.ssh'), 0o775);
  keyFile('otherown', 2011);
  fs.chownSync(t.file('/home/otherown/.ssh/authorized_keys'), 4242, 4242);
  fs.symlinkSync('/etc/shadow', t.file('/home/linked/.ssh/authorized_keys'));
  t.write('/etc/ssh/sshd_config', sshdConfig(port));
  // Three failures of 'faill' in pam_faillock's record format: source[52], reserved u16, status u16, time u64.
  const rec = (src: string) => { const b = Buffer.alloc(64); b.write(src, 0, 'latin1'); b.writeUInt16LE(0x1 | 0x2, 54); b.writeBigUInt64LE(BigInt(Math.floor(Date.now() / 1000)), 56); return b; };
  t.write('/var/run/faillock/faill', '', 0o600);
  fs.writeFileSync(t.file('/var/run/faillock/faill'), Buffer.concat([rec('192.0.2.9'), rec('192.0.2.9'), rec('192.0.2.10')]));
  t.write('/etc/pam.d/common-auth', 'auth required pam_faillock.so preauth\nauth [success=1 default=ignore] pam_unix.so nullok\nauth [default=die] pam_faillock.so authfail\n');
  return t;
}

function sshdConfig(port: number, extra = ''): string {
  const all = ['root', ...USERS.map(([n]) => n).filter((n) => n !== 'outsider')].join(' ');
  return `Port ${port}\nPermitRootLogin no\nPasswordAuthentication yes\nUsePAM no\nAllowUsers ${all}\nDenyUsers denied\n${extra}`;
}

/** Everything about the tree a change would touch: names, types, modes, owners, sizes, contents, link targets. */
function checksum(root: string): string {
  const h = crypto.createHash('sha256');
  const walk = (d: string) => {
    for (const n of fs.readdirSync(d).sort()) {
      const p = path.join(d, n);
      const st = fs.lstatSync(p);
      h.update(`${path.relative(root, p)} ${st.mode} ${st.uid} ${st.gid} ${st.size} ${st.mtimeMs}\n`);
      if (st.isSymbolicLink()) h.update(fs.readlinkSync(p));
      else if (st.isDirectory()) walk(p);
      else h.update(fs.readFileSync(p));
    }
  };
  walk(root);
  return h.digest('hex');
}

interface Ctx { ns: string; port: number; tree: Tree; agent: Agent; c: QgaClient; sshd: ChildProcess | null; dir: string }
const S = suite<Ctx>('login doctor');

const nsExec = (ns: string, ...a: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...a], { encoding: 'utf8' });

S.before(async (ctx) => {
  // sshd -T needs its privilege separation directory, which the ssh service makes when it starts.
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  ctx.ns = `pga-ld-${crypto.randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ctx.ns]);
  execFileSync('ip', ['-n', ctx.ns, 'link', 'set', 'lo', 'up']);
  ctx.port = 20_000 + crypto.randomInt(20_000);
  ctx.tree = doctorTree(ctx.port);
  ctx.dir = tempDir();
  ctx.sshd = null;
  ctx.agent = startAgent({ dir: ctx.dir, interval: 0.5, hangTimeout: 30, wrap: ['ip', 'netns', 'exec', ctx.ns], args: ['--os-root', ctx.tree.root] });
  await ctx.agent.waitReady();
  ctx.c = await QgaClient.connect(ctx.agent.sock);
});
S.after(async (ctx) => {
  ctx.c.close();
  await ctx.agent.stop();
  ctx.sshd?.kill('SIGKILL');
  try { execFileSync('ip', ['netns', 'del', ctx.ns]); } catch { /* gone */ }
});

async function diagnose(ctx: Ctx, user: string): Promise<Diagnosis> {
  const before = checksum(ctx.tree.root);
  const r = await ctx.c.request('phoenix-diagnose-login', { username: user }, 30_000);
  assert.ok(r.return, JSON.stringify(r));
  assert.is(checksum(ctx.tree.root), before, `the tree changed while diagnosing ${user}`);
  return r.return as Diagnosis;
}
const find = (d: Diagnosis, check: string, status?: string) => d.findings.filter((f) => f.check === check && (!status || f.status === status));
const problemsOf = (d: Diagnosis) => d.findings.filter((f) => f.status === 'problem').map((f) => f.check);

S('a user with a password and nothing wrong but sshd not running here: only the sshd problems', async (ctx) => {
  const d = await diagnose(ctx, 'alice');
  assert.is(d.username, 'alice');
  assert.equal(problemsOf(d).sort(), ['sshd-listening', ...(find(d, 'sshd-running', 'problem').length ? ['sshd-running'] : [])].sort());
  assert.is(find(d, 'password')[0].status, 'ok');
  assert.is(find(d, 'sshd-config')[0].desc, "effective settings for 'alice' from sshd -T");
  assert.is(find(d, 'fail2ban')[0].status, fs.existsSync('/usr/bin/fail2ban-client') ? find(d, 'fail2ban')[0].status : 'not-checked');
  // A password hash never leaves the agent.
  assert.not.match(JSON.stringify(d), /\$6\$salt/);
});

S('each account reason, with its evidence', async (ctx) => {
  const cases: Array<[string, string, RegExp, RegExp?]> = [
    ['nosuchuser', 'account', /no user 'nosuchuser'/],
    ['locked', 'password', /locked/, /starts with '!' before a hash/],
    ['expired', 'expiry', /expired on/, /field 8/],
    ['pwexp', 'expiry', /grace ended: the account is locked out/, /fields 3, 5, 7: 100, 10, 5/],
    ['noshell', 'shell', /\/usr\/sbin\/nologin refuses every login/],
    ['badshell', 'shell', /\/bin\/zsh does not exist \(ENOENT\)/],
    ['nohome', 'home', /\/home\/nohome does not exist/],
    ['nocred', 'credentials', /no usable password and no key/],
    ['grpw', 'keys', /StrictModes yes\) ignores \/home\/grpw\/.ssh\/authorized_keys: \/home\/grpw\/.ssh is writable by its group \(mode 0775\)/, /\/home\/grpw\/.ssh: dir mode 0775 uid 2010/],
    ['otherown', 'keys', /owned by uid 4242, not by 'otherown' or root/],
    ['denied', 'sshd-users', /DenyUsers matches 'denied'/, /denyusers denied/],
    ['outsider', 'sshd-users', /AllowUsers is set and does not name 'outsider'/],
    ['root', 'sshd-root', /PermitRootLogin no/],
    ['faill', 'faillock', /pam_faillock locks 'faill' out: 3 failures, deny = 3/, /192\.0\.2\.10 V/],
  ];
  for (const [user, check, desc, evidence] of cases) {
    const d = await diagnose(ctx, user);
    const f = find(d, check, 'problem');
    assert.ok(f.length, `${user}: no ${check} problem in ${JSON.stringify(d.findings.filter((x) => x.status !== 'ok'))}`);
    assert.match(f[0].desc, desc, user);
    if (evidence) assert.match((f[0].evidence ?? []).join('\n'), evidence, `${user} evidence`);
  }
  // The records are in the format the real faillock reads (on a copy: faillock chmods what it reads).
  const copy = tempDir('faillock-');
  fs.copyFileSync(ctx.tree.file('/var/run/faillock/faill'), path.join(copy, 'faill'));
  assert.is(execFileSync('faillock', ['--dir', copy, '--user', 'faill'], { encoding: 'utf8' }).split('\n').filter((x) => /^\d{4}-.* V\s*$/.test(x)).length, 3);
  // A key alone is enough; a password locked is one problem, not "no credentials" when a key is there.
  const k = await diagnose(ctx, 'withkey');
  assert.equal(find(k, 'keys').map((f) => [f.status, f.desc]), [['ok', '/home/withkey/.ssh/authorized_keys holds 1 key']]);
  assert.equal(find(k, 'credentials'), []);
  // A link is never followed: the shadow file behind it is not read.
  const l = await diagnose(ctx, 'linked');
  assert.match(find(l, 'keys', 'warning')[0].desc, /is a symbolic link: sshd follows it, this check does not/);
  assert.not.match(JSON.stringify(l), /root:\*/);
});

S('/etc/nologin refuses everyone but root; AllowGroups; a configuration sshd -T refuses', async (ctx) => {
  ctx.tree.write('/etc/nologin', 'maintenance until 6pm\n');
  try {
    assert.match(find(await diagnose(ctx, 'alice'), 'nologin', 'problem')[0].evidence![0], /maintenance until 6pm/);
    assert.is(find(await diagnose(ctx, 'root'), 'nologin')[0].status, 'warning');
  } finally { fs.rmSync(ctx.tree.file('/etc/nologin')); }
  ctx.tree.write('/etc/ssh/sshd_config', sshdConfig(ctx.port, 'AllowGroups sshusers\n'));
  try {
    assert.equal(find(await diagnose(ctx, 'alice'), 'sshd-groups'), []);
    assert.match(find(await diagnose(ctx, 'withkey'), 'sshd-groups', 'problem')[0].desc, /AllowGroups is set and none of the groups of 'withkey' \(withkey\) is in it/);
  } finally { ctx.tree.write('/etc/ssh/sshd_config', sshdConfig(ctx.port)); }
  // A configuration sshd itself refuses: said, and its settings read from the file instead.
  ctx.tree.write('/etc/ssh/sshd_config', `BogusOption yes\n${sshdConfig(ctx.port)}`);
  try {
    const d = await diagnose(ctx, 'root');
    assert.match(find(d, 'sshd-config', 'warning')[0].desc, /^sshd -T failed: .*Bad configuration option: BogusOption; sshd may refuse to start\. Settings below are read from \/etc\/ssh\/sshd_config/);
    assert.match(find(d, 'sshd-root', 'problem')[0].desc, /PermitRootLogin no/);
  } finally { ctx.tree.write('/etc/ssh/sshd_config', sshdConfig(ctx.port)); }
  // A bad user name is refused before anything runs.
  assert.match((await ctx.c.request('phoenix-diagnose-login', { username: '-oProxyCommand=x' })).error.desc, /'username' is not a user name/);
});

S('a real sshd in the namespace: running and listening on its port; then nftables and iptables rules dropping it', async (ctx) => {
  const key = path.join(ctx.dir, 'hostkey');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const cfg = path.join(ctx.dir, 'sshd_config');
  fs.writeFileSync(cfg, `Port ${ctx.port}\nListenAddress 0.0.0.0\nHostKey ${key}\nPidFile ${ctx.dir}/sshd.pid\nUsePAM no\n`);
  ctx.sshd = spawn('ip', ['netns', 'exec', ctx.ns, '/usr/sbin/sshd', '-D', '-e', '-f', cfg], { stdio: 'ignore' });
  await waitFor('sshd listening', () => nsExec(ctx.ns, 'ss', '-Hltn').includes(`:${ctx.port}`), 10_000);
  const d = await diagnose(ctx, 'alice');
  assert.is(find(d, 'sshd-running')[0].status, 'ok');
  const l = find(d, 'sshd-listening')[0];
  assert.equal([l.status, l.desc], ['ok', `sshd listens on port ${ctx.port}`]);
  assert.match(l.evidence![0], new RegExp(`^0\\.0\\.0\\.0:${ctx.port} sshd \\(pid \\d+`));
  assert.equal(problemsOf(d), []);
  // The configuration says another port than the one sshd holds: not restarted since the change.
  ctx.tree.write('/etc/ssh/sshd_config', sshdConfig(ctx.port + 1));
  try {
    assert.match(find(await diagnose(ctx, 'alice'), 'sshd-listening', 'warning')[0].desc, new RegExp(`listens on ${ctx.port}, but its configuration says ${ctx.port + 1}`));
  } finally { ctx.tree.write('/etc/ssh/sshd_config', sshdConfig(ctx.port)); }
  if (fs.existsSync('/usr/sbin/nft')) {
    nsExec(ctx.ns, 'nft', 'add table inet pga; add chain inet pga input { type filter hook input priority 0; policy accept; }; add rule inet pga input tcp dport { 22, ' + ctx.port + ' } drop');
    const f = find(await diagnose(ctx, 'alice'), 'firewall', 'problem');
    assert.ok(f.some((x) => x.desc === `nftables: rules drop or reject port ${ctx.port}`), JSON.stringify(f));
    assert.match(f.find((x) => x.desc.startsWith('nftables'))!.evidence![0], new RegExp(`^nft inet pga input: tcp dport \\{ 22, ${ctx.port} \\} drop$`));
    nsExec(ctx.ns, 'nft', 'delete table inet pga');
  } else console.log('  (nft is not installed: the nftables case is skipped; .ci/run installs nftables)');
  nsExec(ctx.ns, 'iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', String(ctx.port), '-j', 'REJECT');
  const f = find(await diagnose(ctx, 'alice'), 'firewall', 'problem');
  assert.ok(f.some((x) => x.desc === `iptables: rules drop or reject port ${ctx.port}` && /-A INPUT -p tcp -m tcp --dport \d+ -j REJECT/.test(x.evidence![0])), JSON.stringify(f));
  nsExec(ctx.ns, 'iptables', '-F', 'INPUT');
  nsExec(ctx.ns, 'iptables', '-P', 'INPUT', 'DROP');
  assert.ok(find(await diagnose(ctx, 'alice'), 'firewall', 'problem').some((x) => /iptables: the input policy is drop and no rule accepts port/.test(x.desc)));
  nsExec(ctx.ns, 'iptables', '-P', 'INPUT', 'ACCEPT');
  assert.equal(problemsOf(await diagnose(ctx, 'alice')), []);
  ctx.sshd.kill('SIGTERM');
  await waitFor('sshd gone', () => !nsExec(ctx.ns, 'ss', '-Hltn').includes(`:${ctx.port}`), 10_000);
  ctx.sshd = null;
  assert.match(find(await diagnose(ctx, 'alice'), 'sshd-listening', 'problem')[0].desc, /listens on no TCP port in this network namespace \(configured: \d+\)/);
});

S.run();

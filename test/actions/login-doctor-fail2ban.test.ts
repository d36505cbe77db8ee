// The login doctor and a real fail2ban: its server runs with an sshd jail in a private mount
// namespace (its socket, /run/fail2ban, on a tmpfs of that namespace; the agent runs beside it,
// so `fail2ban-client status sshd` reaches it at the default path), reading a log file of the test
// in which failed sshd logins are written; the ban it makes is what the doctor reports.
//
// Not real: the failed logins are lines written into that log, as sshd writes them, and the ban
// action is fail2ban's own "dummy" (it records the ban instead of adding a firewall rule), so the
// machine's firewall is not touched.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { startAgent, tempDir, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { makeTree } from '../helpers/root-tree';

const F2B = '/usr/bin/fail2ban-server';

test('fail2ban: an address banned by the sshd jail after failed logins is reported, with the address', async () => {
  if (!fs.existsSync(F2B)) { console.log('  (fail2ban is not installed: skipped; .ci/run installs it)'); return; }
  const dir = tempDir('f2b-');
  fs.cpSync('/etc/fail2ban', path.join(dir, 'conf'), { recursive: true });
  for (const f of fs.readdirSync(path.join(dir, 'conf/jail.d'))) fs.rmSync(path.join(dir, 'conf/jail.d', f));
  const log = path.join(dir, 'auth.log');
  fs.writeFileSync(log, '');
  // Nothing of the machine's: an in-memory database, the log of this test, a ban that only records.
  fs.writeFileSync(path.join(dir, 'conf/fail2ban.local'), '[Definition]\ndbfile = :memory:\n');
  fs.writeFileSync(path.join(dir, 'conf/jail.local'), `[DEFAULT]\nbanaction = dummy\nbanaction_allports = dummy\nbackend = polling\n\n[sshd]\nenabled = true\nbackend = polling\nmaxretry = 3\nfindtime = 600\nlogpath = ${log}\n`);
  const pidFile = path.join(dir, 'server.pid');
  const script = `mkdir -p /run/fail2ban && mount -t tmpfs -o mode=0755 tmpfs /run/fail2ban && `
    + `{ ${F2B} -f -c ${dir}/conf --logtarget ${dir}/f2b.log >/dev/null 2>&1 & echo $! > ${pidFile}; } && exec "$@"`;
  const agent = startAgent({ interval: 0.5, hangTimeout: 30, wrap: ['unshare', '-m', '--propagation', 'private', '--', 'sh', '-c', script, 'sh'], args: ['--os-root', makeTree().root] });
  try {
    await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    const fail2ban = async () => ((await c.request('phoenix-diagnose-login', { username: 'alice' }, 30_000)).return.findings as Array<{ check: string; status: string; desc: string; evidence?: string[] }>).find((f) => f.check === 'fail2ban')!;
    await waitFor('the sshd jail', async () => /bans no address/.test((await fail2ban()).desc), 20_000, 200);
    // syslog's time stamp, local time: "Dec  5 22:34:54".
    const stamp = () => { const d = new Date(); return `${d.toDateString().slice(4, 7)} ${String(d.getDate()).padStart(2, ' ')} ${d.toTimeString().slice(0, 8)}`; };
    const lines = [1, 2, 3, 4].map((i) => `${stamp()} vds sshd[${4000 + i}]: Failed password for alice from 192.0.2.77 port ${50000 + i} ssh2\n`).join('');
    fs.appendFileSync(log, lines);
    const f = await waitFor('a ban', async () => { const x = await fail2ban(); return x.status === 'warning' && x; }, 20_000, 250);
    assert.match(f.desc, /^fail2ban's sshd jail bans 1 address: a client from one of them cannot connect/);
    assert.equal(f.evidence, ['192.0.2.77']);
    c.close();
  } finally {
    await agent.stop();
    try { process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGTERM'); } catch { /* gone */ }
  }
});

test.run();

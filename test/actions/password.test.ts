// guest-set-user-password through the real agent and the real chpasswd: the hashed path on a
// temporary root (chpasswd -e -R), the plain path on this machine for a throwaway user, the
// injection matrix, and a canary password looked for everywhere it must never appear.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import { Agent, startAgent, tempDir } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { makeTree, Tree } from '../helpers/root-tree';
import { startReceiver, TestReceiver } from '../helpers/receiver';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const shadowHash = (text: string, user: string) => text.split('\n').find((l) => l.startsWith(`${user}:`))!.split(':')[1];
/** Whether PASSWORD matches the crypt(3) HASH (Python's crypt, as PAM would check it). */
const matches = (password: string, hash: string) =>
  spawnSync('python3', ['-W', 'ignore', '-c', 'import crypt,sys; h=sys.argv[1]; print(crypt.crypt(sys.stdin.read(), h) == h)', hash], { input: password, encoding: 'utf8' }).stdout.trim() === 'True';

const S = suite<{ tree: Tree; agent: Agent; c: QgaClient; r: TestReceiver }>('password on a temporary root');

S.before(async (ctx) => {
  const dir = tempDir();
  ctx.r = await startReceiver(dir);
  ctx.tree = makeTree();
  ctx.agent = startAgent({ dir, interval: 0.2, hangTimeout: 10, heartbeatPort: ctx.r.port, keyFile: ctx.r.keyFile, args: ['--os-root', ctx.tree.root, '--state-dir', `${dir}/state`] });
  await ctx.agent.waitReady();
  ctx.c = await QgaClient.connect(ctx.agent.sock);
});
S.after(async (ctx) => { ctx.c.close(); await ctx.agent.stop(); ctx.r.close(); });

const set = (c: QgaClient, username: string, password: string | Buffer, crypted = false, extra: Record<string, unknown> = {}) =>
  c.request('guest-set-user-password', { username, password: b64(password), crypted, ...extra });

S('a crypt hash is stored as given (chpasswd -e -R ROOT), for that user only', async ({ tree, c }) => {
  const before = tree.read('/etc/shadow');
  const hash = execFileSync('openssl', ['passwd', '-6', '-salt', 'saltsalt', 'correct horse'], { encoding: 'utf8' }).trim();
  assert.equal(await set(c, 'alice', hash, true), { return: {} });
  const after = tree.read('/etc/shadow');
  assert.is(shadowHash(after, 'alice'), hash);
  assert.ok(matches('correct horse', shadowHash(after, 'alice')));
  for (const u of ['root', 'daemon', 'bob']) assert.is(shadowHash(after, u), shadowHash(before, u), `${u} unchanged`);
});

S('bad input is refused before chpasswd runs, with qemu-ga texts where qemu-ga has them', async ({ tree, c }) => {
  const before = tree.read('/etc/shadow');
  const cases: Array<[string, string | Buffer, boolean, RegExp]> = [
    ['alice:x', 'pw', false, /^forbidden characters in username$/],
    ['alice\nroot', 'pw', false, /^forbidden characters in username$/],
    ['alice', 'pw\nroot:owned', false, /^forbidden characters in raw password$/],
    ['alice', 'pw\rx', false, /^forbidden characters in raw password \(control characters\)$/],
    ['alice', Buffer.from('pw\0x'), false, /control characters/],
    ['alice', '', false, /^the password is empty$/],
    ['alice', 'x'.repeat(1025), false, /longer than 1024 bytes/],
    ['alice', Buffer.from([0xff, 0xfe]), false, /not valid UTF-8/],
    ['nosuchuser', 'pw', false, /^user 'nosuchuser' does not exist$/],
    ['daemon', 'pw', false, /system account \(uid 1\)/],
    ['-rf', 'pw', false, /not a valid user name/],
    ['alice', 'x', true, /not a crypt\(3\) hash/],
    ['alice', '$6$', true, /not a crypt\(3\) hash/],
    ['alice', '$6$salt$ab:cd', true, /not a crypt\(3\) hash/],
    ['alice', '!', true, /not a crypt\(3\) hash/],
    ['alice', '$6$$$$$$$$$$', true, /not a crypt\(3\) hash/],
    ['alice', `$6$saltsalt$${'a'.repeat(85)}`, true, /not a crypt\(3\) hash/],
    ['alice', `$1$toolongsalt$${'a'.repeat(22)}`, true, /not a crypt\(3\) hash/],
    ['alice', `$2b$4$${'a'.repeat(53)}`, true, /not a crypt\(3\) hash/],
    ['alice', `$y$j9T$$${'a'.repeat(42)}`, true, /not a crypt\(3\) hash/],
  ];
  for (const [user, pw, crypted, want] of cases) {
    const r = await set(c, user, pw, crypted);
    assert.ok(r.error, `${JSON.stringify(user)} ${JSON.stringify(pw)} must fail`);
    assert.match(r.error.desc, want);
  }
  const bad64 = await c.request('guest-set-user-password', { username: 'alice', password: 'not base64!', crypted: false });
  assert.is(bad64.error.desc, 'Base64 data contains invalid characters');
  const type = await c.request('guest-set-user-password', { username: 'alice', password: b64('x'), crypted: 'false' });
  assert.is(type.error.desc, "Invalid parameter type for 'crypted', expected: boolean");
  assert.is(tree.read('/etc/shadow'), before, 'nothing changed');
});

S('an idempotency key reused with another password is a conflict, and the password stays as first set', async ({ tree, agent, c }) => {
  const first = execFileSync('openssl', ['passwd', '-6', '-salt', 'firstsal', 'first secret'], { encoding: 'utf8' }).trim();
  const second = execFileSync('openssl', ['passwd', '-6', '-salt', 'secondsa', 'second secret'], { encoding: 'utf8' }).trim();
  const key = { 'idempotency-key': `pw-${crypto.randomBytes(4).toString('hex')}` };
  assert.equal(await set(c, 'alice', first, true, key), { return: {} });
  assert.equal(await set(c, 'alice', first, true, key), { return: {} }, 'the same request again: the recorded answer');
  const other = await set(c, 'alice', second, true, key);
  assert.match(other.error?.desc ?? JSON.stringify(other), /idempotency key 'pw-[0-9a-f]+' was already used for guest-set-user-password with other arguments/, JSON.stringify(other));
  assert.is(shadowHash(tree.read('/etc/shadow'), 'alice'), first, 'the first password is in place, not silently kept while reporting success');
  const journal = fs.readFileSync(`${agent.dir}/state/journal/journal.jsonl`, 'utf8');
  for (const h of [first, second]) assert.not.ok(journal.includes(h.split('$')[3]), 'no hash in the journal');
  const macKey = fs.statSync(`${agent.dir}/state/journal/secret.key`);
  assert.is(macKey.mode & 0o777, 0o600);
});

S('no password for nobody (uid 65534) nor a system account; a nologin shell alone is no reason', async ({ tree, c }) => {
  tree.write('/etc/passwd', tree.read('/etc/passwd') + 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nsftp1:x:1003:1003::/home/sftp1:/usr/sbin/nologin\n');
  tree.write('/etc/shadow', tree.read('/etc/shadow') + 'nobody:*:19000:0:99999:7:::\nsftp1:!:19000:0:99999:7:::\n', 0o640);
  const hash = execFileSync('openssl', ['passwd', '-6', '-salt', 'nobodysa', 'x'], { encoding: 'utf8' }).trim();
  const before = tree.read('/etc/shadow');
  const r = await set(c, 'nobody', hash, true);
  assert.match(r.error?.desc ?? JSON.stringify(r), /^user 'nobody' is the unprivileged placeholder account \(uid 65534\)/, `${JSON.stringify(r)}; shadow changed: ${tree.read('/etc/shadow') !== before}`);
  assert.is(tree.read('/etc/shadow'), before, 'nothing changed');
  assert.equal(await set(c, 'sftp1', hash, true), { return: {} }, 'an SFTP-only user with a nologin shell gets its password');
  assert.is(shadowHash(tree.read('/etc/shadow'), 'sftp1'), hash);
});

S("chpasswd's own reason comes back when it fails (PAM is not usable inside this tree)", async ({ c }) => {
  const r = await set(c, 'bob', 'plain password');
  assert.match(r.error.desc, /^chpasswd failed \(exit 1\): .*password not changed/);
});

S('a canary password never appears in logs, journal, heartbeats, errors, or any argv/environment during the call', async ({ tree, agent, c, r }) => {
  const canary = `CANARY-${crypto.randomBytes(6).toString('hex')}`;
  const forms = [canary, b64(canary), Buffer.from(canary).toString('hex'), JSON.stringify(canary).slice(1, -1)];
  const seen: string[] = [];
  let scanning = true;
  const scan = (async () => {
    while (scanning) {
      for (const p of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
        for (const f of ['cmdline', 'environ']) {
          try { const t = fs.readFileSync(`/proc/${p}/${f}`, 'latin1'); if (forms.some((x) => t.includes(x))) seen.push(`${p}/${f}`); } catch { /* gone */ }
        }
      }
      await new Promise((res) => setImmediate(res));
    }
  })();
  const hash = execFileSync('openssl', ['passwd', '-6', '-stdin'], { input: canary, encoding: 'utf8' }).trim();
  const replies = [
    await set(c, 'bob', canary),                        // fails inside chpasswd (PAM)
    await set(c, 'nosuchuser', canary),                 // fails before
    await set(c, 'alice', `${canary}\n`),               // refused
    await set(c, 'alice', hash, true, { 'idempotency-key': 'canary-1' }), // succeeds, journaled
  ];
  c.write(`{"execute":"guest-set-user-password","arguments":{"username":"alice","password":${canary}}}`); // malformed JSON
  replies.push(await c.next());
  scanning = false;
  await scan;
  assert.equal(seen, [], 'argv or environment of some process held the canary');
  const everything = [
    ...replies.map((x) => JSON.stringify(x)),
    agent.output(),
    fs.readFileSync(`${agent.dir}/state/journal/journal.jsonl`, 'utf8'),
    ...r.datagrams.map((d) => d.toString('latin1')),
    ...fs.readdirSync(agent.runDir).map((f) => { try { return fs.readFileSync(`${agent.runDir}/${f}`, 'latin1'); } catch { return ''; } }),
  ].join('\n');
  for (const f of forms) assert.not.ok(everything.includes(f), `found ${f}`);
  assert.ok(matches(canary, shadowHash(tree.read('/etc/shadow'), 'alice')), 'the password was set');
  assert.match(fs.readFileSync(`${agent.dir}/state/journal/journal.jsonl`, 'utf8'), /"cmd":"guest-set-user-password"/, 'the call is journaled, without the secret');
});

S.run();

// The plain path needs PAM and the real /etc/shadow: a throwaway user on this machine.
const R = suite('password on this machine');
R('a plain password with shell metacharacters is set verbatim for a throwaway user, and only for it', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const user = `pgatest${crypto.randomBytes(3).toString('hex')}`;
  execFileSync('useradd', ['-m', '-u', String(20000 + crypto.randomInt(10000)), user]);
  const agent = startAgent({ interval: 0.5, hangTimeout: 10 });
  try {
    await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    const before = fs.readFileSync('/etc/shadow', 'utf8').split('\n').filter((l) => !l.startsWith(`${user}:`));
    const pw = `$(reboot); \`id\` 'a' "b" \\ ünïcødé`;
    assert.equal(await set(c, user, pw), { return: {} });
    const shadow = fs.readFileSync('/etc/shadow', 'utf8');
    assert.ok(matches(pw, shadowHash(shadow, user)), 'the password was stored exactly');
    assert.equal(shadow.split('\n').filter((l) => !l.startsWith(`${user}:`)), before, 'no other account changed');
    c.close();
  } finally {
    await agent.stop();
    execFileSync('userdel', ['-r', user], { stdio: 'ignore' });
  }
});
R.run();

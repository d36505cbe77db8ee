// guest-ssh-*-authorized-keys on a temporary root: ownership and modes, comments kept, keys compared
// by their decoded blob (a re-commented copy is the same key; options given win), bad keys refused
// before anything is read or written; the line parser checked against ssh-keygen; and what virsh
// set-user-sshkeys --file sends, side by side with the real qemu-ga on the same account.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import { parseKeyLine } from '../../agent/actions/ssh-key-line';
import { Agent, startAgent, tempDir } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { QEMU_GA, startQemuGa } from '../helpers/qemu-ga';
import { makeTree, Tree } from '../helpers/root-tree';
import { blobOf, CERT, ECDSA, ED1, ED2, ED3, RSA } from '../security/keys';

const S = suite<{ tree: Tree; agent: Agent; c: QgaClient }>('ssh keys');
S.before(async (ctx) => {
  const dir = tempDir();
  ctx.tree = makeTree();
  ctx.agent = startAgent({ dir, interval: 0.5, hangTimeout: 10, args: ['--os-root', ctx.tree.root, '--state-dir', `${dir}/state`] });
  await ctx.agent.waitReady();
  ctx.c = await QgaClient.connect(ctx.agent.sock);
});
S.after(async (ctx) => { ctx.c.close(); await ctx.agent.stop(); fs.rmSync(ctx.tree.root, { recursive: true, force: true }); });

const add = (c: QgaClient, keys: unknown, reset?: boolean, username = 'alice') => c.request('guest-ssh-add-authorized-keys', { username, keys, ...(reset === undefined ? {} : { reset }) });
const remove = (c: QgaClient, keys: unknown, username = 'alice') => c.request('guest-ssh-remove-authorized-keys', { username, keys });
const FILE = '/home/alice/.ssh/authorized_keys';

S('add creates ~/.ssh 0700 and authorized_keys 0600 owned by the user; get lists; add twice adds once', async ({ tree, c }) => {
  assert.equal(await add(c, [ED1, RSA]), { return: {} });
  const dir = fs.statSync(tree.file('/home/alice/.ssh'));
  const file = fs.statSync(tree.file(FILE));
  assert.equal([dir.mode & 0o777, dir.uid, dir.gid, file.mode & 0o777, file.uid, file.gid, file.nlink], [0o700, 1001, 1001, 0o600, 1001, 1001, 1]);
  assert.equal((await c.request('guest-ssh-get-authorized-keys', { username: 'alice' })).return, { keys: [ED1, RSA] });
  await add(c, [RSA, ED1]);
  assert.is(tree.read(FILE), `${ED1}\n${RSA}\n`);
});

S("the customer's comments, blank lines and other lines stay; remove takes out the named keys, whatever their comment or options", async ({ tree, c }) => {
  tree.write(FILE, `# my laptop\nfrom="10.0.0.0/8" ${ECDSA}\n${ED1}\n\n${RSA}\nnot a key, left alone\n`, 0o600);
  fs.chownSync(tree.file(FILE), 1001, 1001);
  // ECDSA given without its options, ED1 with another comment: both are the keys in the file.
  assert.equal(await remove(c, [`${blobOf(ECDSA)} other-comment`, `${blobOf(ED1)}`, ED2]), { return: {} });
  assert.is(tree.read(FILE), `# my laptop\n\n${RSA}\nnot a key, left alone\n`);
  await add(c, [ED1], true);
  assert.is(tree.read(FILE), `${ED1}\n`);
});

S('a re-commented copy of a key is the same key; the same key with other options replaces its line in place; duplicates collapse', async ({ tree, c }) => {
  tree.write(FILE, `${ED1}\n${RSA}\n`, 0o600);
  fs.chownSync(tree.file(FILE), 1001, 1001);
  await add(c, [`${blobOf(ED1)} a-different-comment`, `  ${RSA}  `]);
  assert.is(tree.read(FILE), `${ED1}\n${RSA}\n`, 'nothing added, the existing comment kept');
  const restricted = `command="/usr/bin/backup --run \\"nightly\\"",no-pty,from="10.0.0.0/8" ${blobOf(ED1)} backup`;
  await add(c, [restricted]);
  assert.is(tree.read(FILE), `${restricted}\n${RSA}\n`, 'the options given are the ones in force, at the same place');
  tree.write(FILE, `${RSA}\n${ED1}\n${ED2}\nno-pty ${ED1}\n`, 0o600);
  await add(c, [ED1]);
  assert.is(tree.read(FILE), `${RSA}\n${ED1}\n${ED2}\n`, 'one line per key after add');
  const r = await add(c, [ED3, `no-pty ${ED3}`]);
  assert.match(r.error.desc, /^keys\[1\] is a key given earlier in keys with other options; give each key once$/);
});

S('bad keys are refused before anything is read or written, naming the entry and what is wrong', async ({ tree, c }) => {
  const before = tree.read(FILE);
  const ed25519Blob = blobOf(ED1).split(' ')[1];
  const cases: Array<[string, RegExp]> = [
    ['not a key', /'a' is not a key type \(expected one of ssh-ed25519, ssh-rsa/],
    ['garbage', /it has options but no key after them$/],
    ['"quoted" ssh-ed25519', /'"quoted"' is neither a key type nor valid options/],
    ['# ssh-ed25519 AAAA a commented-out key', /it is a comment, not a key$/],
    ['command="/bin/sh"', /it has options but no key after them$/],
    ['no-pty,from="10.0.0.1"', /it has options but no key after them$/],
    ['no-pty # just a comment', /'#' is not a key type/],
    [`command="unterminated ${blobOf(ED1)}`, /unterminated double quote/],
    [`${ED1}\nssh-rsa AAAA injected`, /control character/],
    [`${ED1}\r${ED2}`, /control character/],
    [`${ED1}\0`, /control character/],
    ['ssh-ed25519 !!!! x', /key data is not a base64 OpenSSH key blob$/],
    ['ssh-ed25519', /has the type ssh-ed25519 but no key data after it$/],
    ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 x', /not a base64 OpenSSH key blob/],
    [`ssh-rsa ${ed25519Blob} x`, /its key data is a ssh-ed25519 key, not ssh-rsa$/],
    [`ssh-ed448 ${ed25519Blob}`, /'ssh-ed448' is not a key type/],
  ];
  for (const [k, want] of cases) {
    const r = await add(c, [ED2, k]);
    assert.match(r.error?.desc ?? '', /^invalid OpenSSH public key in keys\[1\] \('/, JSON.stringify(k));
    assert.match(r.error.desc, want, JSON.stringify(k));
    assert.match((await remove(c, [k])).error?.desc ?? '', want, `remove ${JSON.stringify(k)}`);
  }
  assert.match((await add(c, ['x'.repeat(20000)])).error.desc, /^Parameter 'keys\[0\]' is too long/);
  assert.match((await c.request('guest-ssh-get-authorized-keys', { username: 'mallory' })).error.desc, /^failed to lookup user 'mallory'/);
  assert.match((await add(c, 'ssh-rsa x')).error.desc, /^Invalid parameter type for 'keys', expected: array/);
  assert.is(tree.read(FILE), before);
});

S('keys as virsh set-user-sshkeys --file sends them: the empty string of the last newline (and a CRLF file) is no key, the keys are written', async ({ tree, c }) => {
  assert.equal(await add(c, [ED2, `${ED3}\r`, ''], false, 'bob'), { return: {} });
  assert.is(tree.read('/home/bob/.ssh/authorized_keys'), `${ED2}\n${ED3}\n`);
  assert.equal(await add(c, [''], false, 'bob'), { return: {} });
  assert.equal(await remove(c, [ED2, ''], 'bob'), { return: {} });
  assert.is(tree.read('/home/bob/.ssh/authorized_keys'), `${ED3}\n`);
  assert.equal(await add(c, ['', '  '], true, 'bob'), { return: {} });
  assert.is(tree.read('/home/bob/.ssh/authorized_keys'), '', 'reset with no keys empties the file, as qemu-ga');
});

S('an authorized_keys that would pass 1 MiB is not written', async ({ tree, c }) => {
  const customer = Array.from({ length: 125 }, (_, i) => `# note ${i} ${'x'.repeat(8000)}\n`).join('');
  tree.write(FILE, customer, 0o600);
  fs.chownSync(tree.file(FILE), 1001, 1001);
  const r = await add(c, [ED1, ED2, ED3, RSA].map((k) => `${k} ${'c'.repeat(15000)}`));
  assert.match(r.error.desc, /^\/home\/alice\/\.ssh\/authorized_keys would be larger than 1048576 bytes; not written$/);
  assert.is(tree.read(FILE), customer);
});

S.run();

// The parser against OpenSSH's own: every line it takes, ssh-keygen -l takes too, and the other way round.
const P = suite('authorized_keys lines');
const sshKeygenTakes = (line: string): boolean => {
  const f = `${tempDir()}/k`;
  fs.writeFileSync(f, `${line}\n`);
  return spawnSync('ssh-keygen', ['-l', '-f', f], { encoding: 'utf8' }).status === 0;
};
P('the key types, options with quoted blanks and escaped quotes, certificates: the same verdict as ssh-keygen', () => {
  const lines = [
    ED1, RSA, ECDSA, CERT, `${blobOf(ED1)}`, `no-pty ${ED1}`, `cert-authority,principals="a,b" ${ED2}`,
    `command="echo \\"hi there\\"",environment="A=b c" ${ED3}`, `\t${ED1}`,
    'command="x"', `command="x ${ED1}`, 'ssh-ed25519 AAAA', `ssh-rsa ${blobOf(ED1).split(' ')[1]}`, '# comment',
  ];
  for (const l of lines) {
    let ours: boolean;
    try { parseKeyLine(l); ours = true; } catch { ours = false; }
    assert.is(ours, sshKeygenTakes(l), l.slice(0, 60));
  }
  assert.equal(parseKeyLine(`command="a b",no-pty ${ED1}`), { options: 'command="a b",no-pty', type: 'ssh-ed25519', blob: blobOf(ED1).split(' ')[1], comment: 'panel@k1' });
});
P.run();

// The real qemu-ga (7.2 in CI) beside phoenix-ga, on one real throwaway account: what virsh sends.
const Q = suite('ssh keys: virsh --file keys, qemu-ga and phoenix-ga');
Q('both accept the trailing empty string and write the same file; both refuse a comment; only phoenix-ga refuses what is not a key', async () => {
  if (!QEMU_GA) throw new Error('qemu-ga not found: apt-get install qemu-guest-agent');
  const user = `pgassh${crypto.randomBytes(3).toString('hex')}`;
  const base = tempDir();
  fs.chmodSync(base, 0o755);
  execFileSync('useradd', ['-M', '-d', `${base}/home`, '-s', '/usr/sbin/nologin', '-u', String(30000 + crypto.randomInt(30000)), '-U', user]);
  fs.mkdirSync(`${base}/home`);
  execFileSync('chown', [`${user}:${user}`, `${base}/home`]);
  const qga = await startQemuGa();
  const agent = startAgent({ interval: 0.5, hangTimeout: 10 });
  try {
    await agent.waitReady();
    const clients = { 'qemu-ga': await QgaClient.connect(qga.sock), 'phoenix-ga': await QgaClient.connect(agent.sock) };
    const file = `${base}/home/.ssh/authorized_keys`;
    const results: Record<string, unknown[]> = {};
    for (const [name, c] of Object.entries(clients)) {
      fs.rmSync(`${base}/home/.ssh`, { recursive: true, force: true });
      const virsh = await c.request('guest-ssh-add-authorized-keys', { username: user, keys: [ED1, ED2, ''] });
      const st = fs.statSync(file);
      const written = [fs.readFileSync(file, 'utf8'), st.uid === Number(execFileSync('id', ['-u', user], { encoding: 'utf8' })), st.mode & 0o777];
      const comment = (await c.request('guest-ssh-add-authorized-keys', { username: user, keys: ['# not a key'] })).error?.desc;
      const junk = await c.request('guest-ssh-add-authorized-keys', { username: user, keys: ['garbage'] });
      results[name] = [virsh, written, comment, junk.return ? 'accepted' : 'refused'];
      c.close();
    }
    assert.equal(results['qemu-ga'].slice(0, 2), [{ return: {} }, [`${ED1}\n${ED2}\n`, true, 0o600]]);
    assert.equal(results['phoenix-ga'].slice(0, 2), results['qemu-ga'].slice(0, 2), 'the same reply and the same file');
    assert.is(results['qemu-ga'][2], "invalid OpenSSH public key: '# not a key'");
    assert.match(String(results['phoenix-ga'][2]), /^invalid OpenSSH public key in keys\[0\] \('# not a key\.\.\.'\): it is a comment, not a key$/);
    assert.equal([results['qemu-ga'][3], results['phoenix-ga'][3]], ['accepted', 'refused'], 'the documented difference');
  } finally {
    qga.stop();
    await agent.stop();
    execFileSync('userdel', [user], { stdio: 'ignore' });
    fs.rmSync(base, { recursive: true, force: true });
  }
});
Q.run();

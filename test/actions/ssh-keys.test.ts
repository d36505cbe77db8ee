// guest-ssh-*-authorized-keys on a temporary root: ownership and modes, comments kept, no
// duplicates, symlinks planted by the user refused, bad keys refused before writing.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import { Agent, startAgent, tempDir } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { makeTree, Tree } from '../helpers/root-tree';

const K1 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDzQOzGwH0oF7aE+8y1HqDPaFqjPpVZ8p5Nn0m8wX3Sd panel@a';
const K2 = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 panel@b';
const K3 = 'from="10.0.0.0/8" ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBO3 ops';

const S = suite<{ tree: Tree; agent: Agent; c: QgaClient }>('ssh keys');
S.before(async (ctx) => {
  const dir = tempDir();
  ctx.tree = makeTree();
  ctx.agent = startAgent({ dir, interval: 0.5, hangTimeout: 10, args: ['--os-root', ctx.tree.root, '--state-dir', `${dir}/state`] });
  await ctx.agent.waitReady();
  ctx.c = await QgaClient.connect(ctx.agent.sock);
});
S.after(async (ctx) => { ctx.c.close(); await ctx.agent.stop(); });

S('add creates ~/.ssh 0700 and authorized_keys 0600 owned by the user; get lists; add twice adds once', async ({ tree, c }) => {
  assert.equal((await c.request('guest-ssh-add-authorized-keys', { username: 'alice', keys: [K1, K2] })).return, {});
  const dir = fs.statSync(tree.file('/home/alice/.ssh'));
  const file = fs.statSync(tree.file('/home/alice/.ssh/authorized_keys'));
  assert.equal([dir.mode & 0o777, dir.uid, dir.gid, file.mode & 0o777, file.uid, file.gid], [0o700, 1001, 1001, 0o600, 1001, 1001]);
  assert.equal((await c.request('guest-ssh-get-authorized-keys', { username: 'alice' })).return, { keys: [K1, K2] });
  await c.request('guest-ssh-add-authorized-keys', { username: 'alice', keys: [K2, K1] });
  assert.is(tree.read('/home/alice/.ssh/authorized_keys'), `${K1}\n${K2}\n`);
});

S("the customer's comments and options stay; remove takes out only the named keys", async ({ tree, c }) => {
  tree.write('/home/alice/.ssh/authorized_keys', `# my laptop\n${K3}\n${K1}\n\n${K2}\n`, 0o600);
  fs.chownSync(tree.file('/home/alice/.ssh/authorized_keys'), 1001, 1001);
  await c.request('guest-ssh-remove-authorized-keys', { username: 'alice', keys: [K1, 'ssh-ed25519 AAAAnotthere x'] });
  assert.is(tree.read('/home/alice/.ssh/authorized_keys'), `# my laptop\n${K3}\n\n${K2}\n`);
  await c.request('guest-ssh-add-authorized-keys', { username: 'alice', keys: [K1], reset: true });
  assert.is(tree.read('/home/alice/.ssh/authorized_keys'), `${K1}\n`);
});

S('a symlink planted at ~/.ssh/authorized_keys or ~/.ssh is refused and not followed', async ({ tree, c }) => {
  const shadow = tree.read('/etc/shadow');
  fs.mkdirSync(tree.file('/home/bob/.ssh'), { mode: 0o700 });
  fs.symlinkSync(tree.file('/etc/shadow'), tree.file('/home/bob/.ssh/authorized_keys'));
  const r = await c.request('guest-ssh-add-authorized-keys', { username: 'bob', keys: [K1] });
  assert.match(r.error.desc, /authorized_keys is a symbolic link; refusing to follow it/);
  assert.match((await c.request('guest-ssh-get-authorized-keys', { username: 'bob' })).error.desc, /symbolic link/);
  fs.rmSync(tree.file('/home/bob/.ssh'), { recursive: true });
  fs.symlinkSync(tree.file('/etc'), tree.file('/home/bob/.ssh'));
  assert.match((await c.request('guest-ssh-add-authorized-keys', { username: 'bob', keys: [K1] })).error.desc, /\.ssh is a symbolic link/);
  assert.is(tree.read('/etc/shadow'), shadow);
});

S('bad keys and unknown users are refused before anything is written', async ({ tree, c }) => {
  const before = tree.read('/home/alice/.ssh/authorized_keys');
  for (const k of ['', 'not a key', `${K1}\nssh-rsa AAAA injected`, 'ssh-ed25519 !!!! x', 'x'.repeat(20000)]) {
    const r = await c.request('guest-ssh-add-authorized-keys', { username: 'alice', keys: [K2, k] });
    assert.match(r.error.desc, /^invalid OpenSSH public key|^Parameter 'keys\[1\]' is too long/, JSON.stringify(k).slice(0, 40));
  }
  assert.match((await c.request('guest-ssh-get-authorized-keys', { username: 'mallory' })).error.desc, /^failed to lookup user 'mallory'/);
  assert.match((await c.request('guest-ssh-add-authorized-keys', { username: 'alice', keys: 'ssh-rsa x' })).error.desc, /^Invalid parameter type for 'keys', expected: array/);
  assert.is(tree.read('/home/alice/.ssh/authorized_keys'), before);
});

S.run();

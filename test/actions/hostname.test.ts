// phoenix-set-hostname with the agent in its own UTS namespace (unshare --uts) and a temporary
// root for /etc: the live name, /etc/hostname and the 127.0.1.1 line of /etc/hosts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import { Agent, startAgent, tempDir } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { makeTree, Tree } from '../helpers/root-tree';

const S = suite<{ tree: Tree; agent: Agent; c: QgaClient; hostBefore: string }>('hostname');

S.before(async (ctx) => {
  if (process.getuid!() !== 0) throw new Error('needs root for a UTS namespace (CI is root)');
  const dir = tempDir();
  ctx.tree = makeTree();
  ctx.hostBefore = os.hostname();
  ctx.agent = startAgent({ dir, interval: 0.5, hangTimeout: 10, wrap: ['unshare', '--uts', '--'], args: ['--os-root', ctx.tree.root, '--state-dir', `${dir}/state`] });
  await ctx.agent.waitReady();
  ctx.c = await QgaClient.connect(ctx.agent.sock);
});
S.after(async (ctx) => { ctx.c.close(); await ctx.agent.stop(); });

S('sets the name live (in the agent\'s namespace only) and in /etc, and says what changed', async ({ tree, c, hostBefore }) => {
  const r = await c.request('phoenix-set-hostname', { hostname: 'web-01.example.com' });
  assert.equal(r.return, { live: 'changed', files: [{ file: '/etc/hostname', action: 'written' }, { file: '/etc/hosts', action: 'written' }] });
  assert.equal((await c.request('guest-get-host-name')).return, { 'host-name': 'web-01.example.com' });
  assert.is(tree.read('/etc/hostname'), 'web-01.example.com\n');
  assert.is(tree.read('/etc/hosts'), '127.0.0.1\tlocalhost\n127.0.1.1\tweb-01.example.com web-01\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\n');
  assert.is(os.hostname(), hostBefore, 'the test machine keeps its name');
  const again = await c.request('phoenix-set-hostname', { hostname: 'web-01.example.com' });
  assert.equal(again.return, { live: 'unchanged', files: [{ file: '/etc/hostname', action: 'unchanged' }, { file: '/etc/hosts', action: 'unchanged' }] });
  assert.is(fs.statSync(tree.file('/etc/hosts')).mode & 0o777, 0o644);
});

S('invalid names are refused and nothing changes', async ({ tree, c }) => {
  const before = [tree.read('/etc/hostname'), tree.read('/etc/hosts')];
  const bad = ['a..b', '.a', 'a.', '-a', 'a-', 'a_b', 'x'.repeat(64) + '.y', 'a'.repeat(65), 'bücher', 'a b', 'a\n1.2.3.4 evil', '-F/etc/shadow', 'localhost', 'LOCALHOST.localdomain', '',
    // Names a resolver takes for an IPv4 address (inet_aton's forms) or with an all-numeric top label.
    '1.2.3.4', '10.0.0.1', '127.1', '2130706433', '0x7f.1', '0X7F000001', '017.0.0.1', 'web.123', '0xdeadbeefcafe1'];
  for (const h of bad) {
    const r = await c.request('phoenix-set-hostname', { hostname: h });
    assert.ok(r.error && r.error.desc.startsWith("Parameter 'hostname' "), `${JSON.stringify(h)}: ${JSON.stringify(r)}`);
  }
  assert.equal([tree.read('/etc/hostname'), tree.read('/etc/hosts')], before);
  assert.is((await c.request('guest-get-host-name')).return['host-name'], 'web-01.example.com');
});

S('names that start with digits are fine when they cannot be read as an address', async ({ c }) => {
  for (const h of ['3com.example', '1password', '0xgood', '1-2-3-4', '1.2.3.4a', 'web-01']) {
    const r = await c.request('phoenix-set-hostname', { hostname: h });
    assert.ok(r.return, `${h}: ${JSON.stringify(r)}`);
  }
});

S('a /etc/hosts without a 127.0.1.1 line gets one after localhost; a symlinked /etc/hostname is refused', async ({ tree, c }) => {
  tree.write('/etc/hosts', '127.0.0.1 localhost\n10.0.0.5 db\n');
  await c.request('phoenix-set-hostname', { hostname: 'node7' });
  assert.is(tree.read('/etc/hosts'), '127.0.0.1 localhost\n127.0.1.1\tnode7\n10.0.0.5 db\n');
  fs.rmSync(tree.file('/etc/hostname'));
  fs.symlinkSync('/etc/shadow', tree.file('/etc/hostname'));
  const r = await c.request('phoenix-set-hostname', { hostname: 'node8' });
  assert.match(r.error.desc, /\/etc\/hostname could not be written \(.*symbolic link/);
  assert.ok(fs.lstatSync(tree.file('/etc/hostname')).isSymbolicLink());
});

S.run();

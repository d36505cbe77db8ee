// What a local user can plant in their own ~/.ssh for the agent to trip on, planted by a real
// throwaway user (setpriv): a FIFO, a 150 MB file, hard and symbolic links to /etc/shadow, a .ssh
// that is a link, a file, or someone else's. Each is refused at once with an error that names it,
// the worker keeps serving (same pid), and nothing outside the user's tree is read or written.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import { Agent, startAgent, tempDir } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { makeTree, Tree } from '../helpers/root-tree';
import { ED1, ED2 } from './keys';
import { addLocalUser, LocalUser } from './local-user';

const CANARY = 'root:$6$canarycanary$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ./0123456789abcdefghijkl:19000:0:99999:7:::\n';

interface Ctx { tree: Tree; user: LocalUser; agent: Agent; c: QgaClient; pid: number }
const S = suite<Ctx>('ssh keys: hostile files in the user\'s own .ssh');

S.before(async (ctx) => {
  ctx.tree = makeTree();
  ctx.tree.write('/etc/shadow', CANARY, 0o640);
  ctx.user = addLocalUser(ctx.tree);
  ctx.agent = startAgent({ dir: tempDir(), interval: 0.5, hangTimeout: 10, args: ['--os-root', ctx.tree.root] });
  ctx.pid = await ctx.agent.waitReady();
  ctx.c = await QgaClient.connect(ctx.agent.sock);
});
S.after(async (ctx) => {
  ctx.c.close();
  await ctx.agent.stop();
  ctx.user.remove();
  fs.rmSync(ctx.tree.root, { recursive: true, force: true });
});
S.before.each(({ user }) => { fs.rmSync(`${user.home}/.ssh`, { recursive: true, force: true }); });
// The same worker answers after every attack: nothing hung it, nothing killed it.
S.after.each(async ({ agent, c, pid }) => {
  assert.equal(await c.request('guest-ping', undefined, 2000), { return: {} });
  assert.is(agent.workerPid(), pid, 'the worker was not restarted');
});

const add = (c: QgaClient, username: string, keys: string[], reset = false) => c.request('guest-ssh-add-authorized-keys', { username, keys, reset }, 2000);
const get = (c: QgaClient, username: string) => c.request('guest-ssh-get-authorized-keys', { username }, 2000);
const remove = (c: QgaClient, username: string, keys: string[]) => c.request('guest-ssh-remove-authorized-keys', { username, keys }, 2000);

/** Every regular file under DIR, other than shadow itself, that holds shadow's canary (looked at as root, without following links). */
function shadowCopies(dir: string, shadow: string): string[] {
  const ino = fs.statSync(shadow).ino;
  return fs.readdirSync(dir).flatMap((n) => {
    const p = `${dir}/${n}`, st = fs.lstatSync(p);
    if (st.isDirectory()) return shadowCopies(p, shadow);
    return st.isFile() && st.ino !== ino && fs.readFileSync(p, 'utf8').includes('canarycanary') ? [p] : [];
  });
}

S('a FIFO as authorized_keys: refused at once, not waited on', async ({ user, c }) => {
  user.run(['sh', '-c', 'mkdir -m 700 .ssh && mkfifo -m 600 .ssh/authorized_keys']);
  const t0 = Date.now();
  assert.match((await get(c, user.name)).error.desc, new RegExp(`^/home/${user.name}/\\.ssh/authorized_keys is not a regular file$`));
  assert.match((await add(c, user.name, [ED1])).error.desc, /authorized_keys is not a regular file/);
  assert.match((await remove(c, user.name, [ED1])).error.desc, /authorized_keys is not a regular file/);
  assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
  assert.ok(fs.lstatSync(`${user.home}/.ssh/authorized_keys`).isFIFO(), 'the FIFO is left alone');
});

S('a 150 MB authorized_keys: refused by its size before it is read', async ({ user, c }) => {
  user.run(['sh', '-c', 'mkdir -m 700 .ssh && truncate -s 150M .ssh/authorized_keys']);
  assert.match((await get(c, user.name)).error.desc, /authorized_keys is larger than 1048576 bytes; refusing to read it$/);
  assert.match((await add(c, user.name, [ED1])).error.desc, /larger than 1048576 bytes/);
  assert.is(fs.statSync(`${user.home}/.ssh/authorized_keys`).size, 150 << 20, 'left as it was');
  // The bound is exact: 1 MiB is read, one byte more is not.
  const pad = 1048576 - ED2.length - 3;
  user.run(['sh', '-c', `rm .ssh/authorized_keys && { printf '%s\\n#' '${ED2}'; head -c ${pad} /dev/zero | tr '\\0' x; echo; } > .ssh/authorized_keys`]);
  assert.is(fs.statSync(`${user.home}/.ssh/authorized_keys`).size, 1048576);
  assert.equal(await get(c, user.name), { return: { keys: [ED2] } });
  user.run(['sh', '-c', 'echo >> .ssh/authorized_keys']);
  assert.match((await get(c, user.name)).error.desc, /larger than 1048576 bytes/);
});

S('a hard link to /etc/shadow (as protected_hardlinks=0 would allow) or to a file of the user\'s: never read, never rewritten', async ({ tree, user, c }) => {
  const shadow = tree.file('/etc/shadow');
  user.run(['sh', '-c', 'mkdir -m 700 .ssh']);
  fs.linkSync(shadow, `${user.home}/.ssh/authorized_keys`);
  for (const r of [await get(c, user.name), await add(c, user.name, [ED1]), await remove(c, user.name, [ED1])]) {
    assert.match(r.error.desc, /authorized_keys is owned by uid 0, not by '.*'; refusing to use it|hard links/);
  }
  assert.equal(shadowCopies(user.home, shadow), []);
  assert.is(fs.readFileSync(shadow, 'utf8'), CANARY);
  assert.is(fs.statSync(shadow).uid, 0);
  fs.unlinkSync(`${user.home}/.ssh/authorized_keys`);
  // The user's own second name for the file: one link only, whoever owns it.
  user.run(['sh', '-c', `echo '${ED2}' > .ssh/authorized_keys && ln .ssh/authorized_keys keys-copy`]);
  assert.match((await add(c, user.name, [ED1])).error.desc, /authorized_keys has 2 hard links; refusing to read it$/);
});

S('a symbolic link as authorized_keys: get, add and remove refuse it; reset replaces the link itself', async ({ tree, user, c }) => {
  const shadow = tree.file('/etc/shadow');
  user.run(['sh', '-c', `mkdir -m 700 .ssh && ln -s ${shadow} .ssh/authorized_keys`]);
  for (const r of [await get(c, user.name), await add(c, user.name, [ED1]), await remove(c, user.name, [ED1])]) {
    assert.match(r.error.desc, /authorized_keys is a symbolic link; refusing to follow it$/);
  }
  assert.equal(await add(c, user.name, [ED1], true), { return: {} });
  const st = fs.lstatSync(`${user.home}/.ssh/authorized_keys`);
  assert.equal([st.isFile(), st.uid, st.mode & 0o777], [true, user.uid, 0o600]);
  assert.is(fs.readFileSync(`${user.home}/.ssh/authorized_keys`, 'utf8'), `${ED1}\n`);
  assert.is(fs.readFileSync(shadow, 'utf8'), CANARY);
  assert.equal(shadowCopies(user.home, shadow), []);
});

S('~/.ssh that is a link, a file, or a directory of root or of another user: refused, nothing written', async ({ tree, user, c }) => {
  const target = tree.file('/srv/rootdir');
  fs.mkdirSync(target, { recursive: true, mode: 0o755 });
  user.run(['ln', '-s', target, '.ssh']);
  assert.match((await add(c, user.name, [ED1])).error.desc, /\/\.ssh is a symbolic link; refusing to follow it$/);
  assert.match((await get(c, user.name)).error.desc, /\/\.ssh is a symbolic link/);
  assert.equal(fs.readdirSync(target), []);
  assert.is(fs.statSync(target).uid, 0);
  fs.unlinkSync(`${user.home}/.ssh`);
  user.run(['touch', '.ssh']);
  assert.match((await add(c, user.name, [ED1])).error.desc, /\/\.ssh is not a directory$/);
  fs.unlinkSync(`${user.home}/.ssh`);
  for (const [uid, who] of [[0, 'root'], [1002, 'bob']] as const) {
    fs.mkdirSync(`${user.home}/.ssh`, { mode: 0o755 });
    fs.chownSync(`${user.home}/.ssh`, uid, uid);
    const r = await add(c, user.name, [ED1]);
    assert.match(r.error.desc, new RegExp(`/\\.ssh is owned by uid ${uid}, not by '${user.name}'; refusing to use it$`), who);
    assert.equal(fs.readdirSync(`${user.home}/.ssh`), [], who);
    fs.rmdirSync(`${user.home}/.ssh`);
  }
});

S("an authorized_keys of root's in the user's .ssh is not the user's: refused, left as it is", async ({ user, c }) => {
  user.run(['sh', '-c', 'mkdir -m 755 .ssh']);
  fs.writeFileSync(`${user.home}/.ssh/authorized_keys`, `${ED2}\n`, { mode: 0o644 });
  assert.match((await add(c, user.name, [ED1])).error.desc, /authorized_keys is owned by uid 0, not by '.*'; refusing to use it$/);
  assert.is(fs.readFileSync(`${user.home}/.ssh/authorized_keys`, 'utf8'), `${ED2}\n`);
});

S('a home that is missing, or owned by another user, is refused', async ({ tree, user, c }) => {
  fs.chownSync(user.home, 1002, 1002);
  try {
    assert.match((await add(c, user.name, [ED1])).error.desc, new RegExp(`^/home/${user.name} is owned by uid 1002, not by '${user.name}' or root; refusing to use it$`));
  } finally {
    fs.chownSync(user.home, user.uid, user.gid);
  }
  fs.appendFileSync(tree.file('/etc/passwd'), 'ghost:x:1003:1003::/home/ghost:/bin/sh\n');
  assert.match((await add(c, 'ghost', [ED1])).error.desc, /^the home directory \/home\/ghost of 'ghost' does not exist$/);
});

S.run();

// Without /proc the door has no way to act inside a directory it holds: it refuses, never falls back to paths.
const P = suite('ssh keys: /proc not mounted');
P('every SSH-key command refuses with a clear error; nothing is created', async () => {
  const tree = makeTree();
  const agent = startAgent({
    dir: tempDir(), interval: 0.5, hangTimeout: 10, args: ['--os-root', tree.root],
    wrap: ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount -t tmpfs -o size=1m none /proc && exec "$0" "$@"'],
  });
  try {
    await agent.waitReady(10_000);
    const c = await QgaClient.connect(agent.sock);
    for (const r of [await add(c, 'alice', [ED1]), await get(c, 'alice'), await remove(c, 'alice', [ED1])]) {
      assert.is(r.error?.desc, "/proc is not mounted: files in users' directories are only changed through /proc/self/fd, never by path");
    }
    assert.equal(fs.readdirSync(tree.file('/home/alice')), []);
    c.close();
  } finally {
    await agent.stop();
    fs.rmSync(tree.root, { recursive: true, force: true });
  }
});
P.run();

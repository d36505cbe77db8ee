// A local user races the agent's SSH-key file work in their own home, with real processes running
// as that user (setpriv to a throwaway uid) against the built agent over its socket, hundreds of
// calls each. The home lives in an --os-root tree (a real directory on this file system, owned by
// the user, reached by the agent by the same kind of path as /home/USER), so every link the racers
// plant is followed, or not, by the real kernel. A win is anything changed outside the user's tree.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'crypto';
import * as fs from 'fs';
import { Agent, startAgent, tempDir, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { makeTree, Tree } from '../helpers/root-tree';
import { ED1, ED2, ED3 } from './keys';
import { addLocalUser, LocalUser, py, PY_EXCHANGE } from './local-user';

const CALLS = 300;
const KEY = ED1;
const USER_KEY = ED2;
const ROOT_KEY = `${ED3}\n`;
const SHADOW_CANARY = 'root:$6$canarycanary$pz1k0Qm6Xy0Jtq2tQ8rX0nqCqS3Vw9y7m2A8Lq4lS9fJb6r2Yc3x1W0u5v7t8s9r0q1p2o3n4m5l6k7j8i9h0g.:19000:0:99999:7:::\n';

interface Ctx { tree: Tree; user: LocalUser; agent: Agent; c: QgaClient }
const S = suite<Ctx>('ssh keys: a local user racing the agent');

S.before(async (ctx) => {
  const dir = tempDir();
  ctx.tree = makeTree();
  ctx.tree.write('/etc/shadow', SHADOW_CANARY, 0o640);
  ctx.user = addLocalUser(ctx.tree);
  ctx.agent = startAgent({ dir, interval: 0.5, hangTimeout: 10, args: ['--os-root', ctx.tree.root] });
  await ctx.agent.waitReady();
  ctx.c = await QgaClient.connect(ctx.agent.sock);
});
S.after(async (ctx) => {
  ctx.c.close();
  await ctx.agent.stop();
  ctx.user.remove();
  fs.rmSync(ctx.tree.root, { recursive: true, force: true });
});

/**
 * Removes whatever is at P (a link, a file, a tree) as root while a racer may be swapping it. The
 * entry is first renamed out of the racer's way: removing a tree in place, root could list the
 * directory after the racer put a link there and delete through it (a win that was the test's).
 */
function clear(p: string): void {
  const gone = `${p}.gone-${crypto.randomBytes(6).toString('hex')}`;
  try {
    fs.renameSync(p, gone);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const st = fs.lstatSync(gone);
  if (st.isDirectory()) fs.rmSync(gone, { recursive: true, force: true }); else fs.unlinkSync(gone);
}

/** A directory's owner, mode and entries with their bytes: what a win would change. */
function snapshot(dir: string): string {
  const st = fs.lstatSync(dir);
  const entries = fs.readdirSync(dir).sort().map((n) => {
    const f = fs.lstatSync(`${dir}/${n}`);
    return `${n} ${f.uid}:${f.gid} ${(f.mode & 0o7777).toString(8)} ${f.isFile() ? fs.readFileSync(`${dir}/${n}`, 'base64') : ''}`;
  });
  return [`${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`, ...entries].join('\n');
}

/** Replies by kind: success, a refusal that names what was wrong, or anything else (never acceptable). */
function tally(): { add(r: any): void; ok: number; refused: number; other: string[] } {
  const t = {
    ok: 0, refused: 0, other: [] as string[],
    add(r: any) {
      if (r.return) t.ok++;
      else if (/symbolic link|not a directory|not a regular file|owned by/.test(r.error?.desc ?? '')) t.refused++;
      else t.other.push(JSON.stringify(r));
    },
  };
  return t;
}

S('a fresh ~/.ssh swapped for a link to a root directory (inotify racer): root never chowns or writes there', async ({ tree, user, c }) => {
  const target = tree.file('/srv/keep');
  fs.mkdirSync(target, { recursive: true, mode: 0o755 });
  fs.writeFileSync(`${target}/keep.conf`, 'root owns this\n', { mode: 0o644 });
  const before = snapshot(target);
  // On IN_CREATE of .ssh, exchange it with a ready link to TARGET, then park the real directory.
  const racer = user.spawn(py(`${PY_EXCHANGE}
import os, struct, sys
target = sys.argv[1]
fd = _libc.inotify_init1(0)
_libc.inotify_add_watch(fd, b".", 0x100)
def arm():
    try: os.symlink(target, ".ssh-swap")
    except FileExistsError: pass
arm()
print("ready", flush=True)
n = 0
while True:
    buf = os.read(fd, 65536)
    i = 0
    while i < len(buf):
        wd, mask, cookie, ln = struct.unpack_from("iIII", buf, i)
        name = buf[i + 16:i + 16 + ln].rstrip(b"\\0")
        i += 16 + ln
        if name == b".ssh" and exchange(b".ssh-swap", b".ssh"):
            n += 1
            try: os.rename(".ssh-swap", "parked-%d" % n)
            except OSError: pass
            arm()
`, target));
  try {
    await racer.waitFor('ready');
    let wins = 0, swapped = 0;
    let firstWin = '';
    const t = tally();
    for (let i = 0; i < CALLS; i++) {
      clear(`${user.home}/.ssh`);
      await waitFor('racer armed', () => fs.lstatSync(`${user.home}/.ssh-swap`, { throwIfNoEntry: false })?.isSymbolicLink(), 2000, 1);
      t.add(await c.request('guest-ssh-add-authorized-keys', { username: user.name, keys: [KEY] }));
      if (fs.lstatSync(`${user.home}/.ssh`, { throwIfNoEntry: false })?.isSymbolicLink()) swapped++;
      if (snapshot(target) !== before) {
        wins++;
        firstWin ||= snapshot(target);
        fs.chownSync(target, 0, 0);
        fs.chmodSync(target, 0o755);
        for (const n of fs.readdirSync(target)) if (n !== 'keep.conf') clear(`${target}/${n}`);
      }
    }
    console.log(`  inotify racer: ${CALLS} calls, .ssh swapped in ${swapped}; ${t.ok} succeeded, ${t.refused} refused, ${t.other.length} other; racer won ${wins}`);
    assert.ok(swapped > CALLS / 10, `the racer swapped in only ${swapped} of ${CALLS} calls: the test proves nothing`);
    assert.is(wins, 0, `root chowned or wrote ${target} in ${wins} of ${CALLS} calls; the first time it read:\n${firstWin}\ninstead of:\n${before}`);
    assert.is(snapshot(target), before);
    assert.equal(t.other, [], 'every reply is a success or a named refusal');
  } finally {
    await racer.stop();
  }
});

S("~/.ssh exchanged with a link to root's .ssh in a renameat2 loop: root's authorized_keys is never written", async ({ tree, user, c }) => {
  const rootSsh = tree.file('/root/.ssh');
  fs.mkdirSync(rootSsh, { mode: 0o700 });
  fs.writeFileSync(`${rootSsh}/authorized_keys`, ROOT_KEY, { mode: 0o600 });
  const before = snapshot(rootSsh);
  clear(`${user.home}/.ssh`);
  user.run(['sh', '-c', `umask 077 && mkdir .ssh && echo '${USER_KEY}' > .ssh/authorized_keys && ln -s ${rootSsh} .ssh-other`]);
  const racer = user.spawn(py(`${PY_EXCHANGE}
print("ready", flush=True)
while True:
    exchange(b".ssh", b".ssh-other")
`));
  try {
    await racer.waitFor('ready');
    let wins = 0;
    const t = tally();
    for (let i = 0; i < CALLS; i++) {
      // Alternate add and remove so that every call that gets through writes the file.
      const r = i % 2 === 0
        ? await c.request('guest-ssh-add-authorized-keys', { username: user.name, keys: [KEY] })
        : await c.request('guest-ssh-remove-authorized-keys', { username: user.name, keys: [KEY] });
      t.add(r);
      if (snapshot(rootSsh) !== before) {
        wins++;
        for (const n of fs.readdirSync(rootSsh)) clear(`${rootSsh}/${n}`);
        fs.writeFileSync(`${rootSsh}/authorized_keys`, ROOT_KEY, { mode: 0o600 });
        fs.chownSync(`${rootSsh}/authorized_keys`, 0, 0);
        fs.chownSync(rootSsh, 0, 0);
        fs.chmodSync(rootSsh, 0o700);
      }
    }
    console.log(`  exchange racer on .ssh: ${CALLS} calls; ${t.ok} succeeded, ${t.refused} refused, ${t.other.length} other; racer won ${wins}`);
    assert.is(wins, 0, `root's authorized_keys was replaced in ${wins} of ${CALLS} calls`);
    assert.is(snapshot(rootSsh), before);
    assert.equal(t.other, [], 'every reply is a success or a named refusal');
    assert.ok(t.ok > 0, 'some calls got through while the racer ran');
  } finally {
    await racer.stop();
    clear(`${user.home}/.ssh`);
    clear(`${user.home}/.ssh-other`);
  }
});

S("authorized_keys a link to /etc/shadow until the agent opens passwd, then exchanged (inotify racer): shadow never reaches the user's file", async ({ tree, user, c }) => {
  const shadow = tree.file('/etc/shadow');
  const before = fs.readFileSync(shadow, 'utf8');
  const dir = `${user.home}/.ssh`;
  clear(dir);
  user.run(['sh', '-c', `umask 077 && mkdir .ssh && echo '${USER_KEY}' > .ssh/other && ln -s ${shadow} .ssh/authorized_keys`]);
  // The agent opens passwd just before authorized_keys: the link is there for that read, and the
  // user's own file is exchanged in for the checks and the write that follow. Re-armed after each.
  const racer = user.spawn(py(`${PY_EXCHANGE}
import os, sys, time
passwd, shadow = sys.argv[1], sys.argv[2]
os.chdir(".ssh")
fd = _libc.inotify_init1(0o4000)
_libc.inotify_add_watch(fd, passwd.encode(), 0x20)
def rearm():
    if os.path.islink("authorized_keys"): return
    if os.path.islink("other"): exchange(b"authorized_keys", b"other"); return
    os.rename("authorized_keys", "other")
    os.symlink(shadow, "authorized_keys")
print("ready", flush=True)
import select
while True:
    if select.select([fd], [], [], 0.01)[0]:
        exchange(b"authorized_keys", b"other")
        time.sleep(0.003)
        try:
            while os.read(fd, 65536): pass
        except BlockingIOError: pass
    try: rearm()
    except OSError: pass
`, tree.file('/etc/passwd'), shadow));
  /** Files of the user's that hold shadow's canary (rewritten clean after counting), looked at without following links. */
  const leakedAndRepaired = (): boolean => {
    let leak = false;
    for (const n of fs.readdirSync(dir)) {
      let fd: number;
      try { fd = fs.openSync(`${dir}/${n}`, fs.constants.O_RDWR | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK); } catch { continue; }
      try {
        if (fs.fstatSync(fd).isFile() && fs.readFileSync(fd, 'utf8').includes('canarycanary')) {
          leak = true;
          fs.ftruncateSync(fd, 0);
          fs.writeSync(fd, `${USER_KEY}\n`, 0);
        }
      } finally {
        fs.closeSync(fd);
      }
    }
    return leak;
  };
  try {
    await racer.waitFor('ready');
    let wins = 0;
    const t = tally();
    for (let i = 0; i < CALLS; i++) {
      await waitFor('racer armed', () => fs.lstatSync(`${dir}/authorized_keys`, { throwIfNoEntry: false })?.isSymbolicLink(), 2000, 1);
      t.add(await c.request('guest-ssh-add-authorized-keys', { username: user.name, keys: [KEY] }));
      if (leakedAndRepaired()) wins++;
    }
    console.log(`  passwd-timed racer on authorized_keys: ${CALLS} calls; ${t.ok} succeeded, ${t.refused} refused, ${t.other.length} other; racer won ${wins}`);
    assert.is(wins, 0, `shadow was copied into a file of the user's in ${wins} of ${CALLS} calls`);
    assert.is(fs.readFileSync(shadow, 'utf8'), before);
    assert.is(fs.statSync(shadow).uid, 0);
    assert.equal(t.other, [], 'every reply is a success or a named refusal');
  } finally {
    await racer.stop();
    clear(dir);
  }
});

S.run();

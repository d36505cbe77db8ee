// guest-exec as qemu-ga runs a program, compared on the same machine: what the child finds on its
// descriptors (stdin /dev/null or a pipe, stdout and stderr pipes), its environment, umask and
// directory, PATH search and glib's error texts, a script without #!, signals, and the status
// reply's shape (out-data left out when nothing was captured).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { Agent, startAgent, tempDir, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { QemuGa, startQemuGa } from '../helpers/qemu-ga';

const S = suite<{ qga: QemuGa; agent: Agent; q: QgaClient; p: QgaClient; dir: string }>('guest-exec vs qemu-ga');

S.before(async (ctx) => {
  ctx.dir = tempDir('exec-');
  ctx.qga = await startQemuGa();
  ctx.agent = startAgent({ interval: 1, hangTimeout: 10, args: ['--block-rpcs', ''] });
  await ctx.agent.waitReady();
  ctx.q = await QgaClient.connect(ctx.qga.sock);
  ctx.p = await QgaClient.connect(ctx.agent.sock);
});
S.after(async (ctx) => {
  ctx.q.close(); ctx.p.close();
  ctx.qga.stop();
  await ctx.agent.stop();
});

async function run(c: QgaClient, args: Record<string, unknown>): Promise<any> {
  const r = await c.request('guest-exec', args);
  if (!r.return) return r;
  const { pid } = r.return;
  const s = await waitFor('exit', async () => { const x = (await c.request('guest-exec-status', { pid })).return; return x.exited && x; }, 10_000, 20);
  for (const k of ['out-data', 'err-data']) if (k in s) s[k] = Buffer.from(s[k], 'base64').toString();
  return s;
}

const both = async (ctx: { q: QgaClient; p: QgaClient }, args: Record<string, unknown>) => ({ qemu: await run(ctx.q, args), ours: await run(ctx.p, args) });
const sh = (script: string, extra: Record<string, unknown> = {}) => ({ path: '/bin/sh', arg: ['-c', script], 'capture-output': true, ...extra });

S('descriptors: stdin /dev/null, stdout and stderr pipes; with input-data stdin is a pipe too', async (ctx) => {
  const probe = 'for f in 0 1 2; do if [ -p /proc/self/fd/$f ]; then echo $f:pipe; elif [ -S /proc/self/fd/$f ]; then echo $f:socket; else echo $f:$(readlink /proc/self/fd/$f); fi; done';
  const a = await both(ctx, sh(probe));
  assert.equal(a.ours, a.qemu);
  assert.is(a.ours['out-data'], '0:/dev/null\n1:pipe\n2:pipe\n');
  const b = await both(ctx, sh(probe, { 'input-data': 'aGk=' }));
  assert.equal(b.ours, b.qemu);
  assert.is(b.ours['out-data'], '0:pipe\n1:pipe\n2:pipe\n');
  const c = await both(ctx, { path: '/bin/sh', arg: ['-c', `${probe} > ${ctx.dir}/nocapture`] });
  assert.equal(c.ours, c.qemu);
});

S('bash -c does not take itself for a remote shell (no ~/.bashrc), as with qemu-ga', async (ctx) => {
  const home = path.join(ctx.dir, 'home');
  fs.mkdirSync(home, { recursive: true });
  fs.writeFileSync(path.join(home, '.bashrc'), 'echo BASHRC-WAS-READ\n');
  const args = { path: '/bin/bash', arg: ['-c', 'echo ran'], env: [`HOME=${home}`, 'PATH=/usr/bin:/bin'], 'capture-output': true };
  const { qemu, ours } = await both(ctx, args);
  assert.equal(ours, qemu);
  assert.is(ours['out-data'], 'ran\n');
});

S('without env: the environment, umask and directory the service was started with', async (ctx) => {
  const { qemu, ours } = await both(ctx, sh('env | sort; umask; pwd'));
  // The test harness starts phoenix-ga's supervisor without these two Node variables.
  const strip = (s: string) => s.split('\n').filter((l) => !/^(NODE_OPTIONS|NODE_EXTRA_CA_CERTS)=/.test(l)).join('\n');
  assert.is(strip(ours['out-data']), strip(qemu['out-data']));
  assert.not.match(ours['out-data'], /PHOENIX_GA/);
  assert.match(ours['out-data'], /\n0022\n/);
});

S('with env: exactly that environment, PATH searched in it', async (ctx) => {
  const { qemu, ours } = await both(ctx, { path: 'env', env: ['FOO=1', 'BAR=a=b'], 'capture-output': true });
  assert.equal(ours, qemu);
  assert.is(ours['out-data'], 'FOO=1\nBAR=a=b\n');
});

S('status shape: out-data and err-data only when something came, each with its truncated flag; exit code or signal', async (ctx) => {
  for (const args of [sh('true'), sh('echo out'), sh('echo err >&2'), sh('echo a; echo b >&2; exit 7'), { path: '/bin/sh', arg: ['-c', 'kill -TERM $$'] }, { path: '/bin/true' }]) {
    const { qemu, ours } = await both(ctx, args);
    assert.equal(ours, qemu, JSON.stringify(args));
  }
});

S('errors: glib\'s texts for a missing program, a directory, a file without the x bit; a script without #! runs with /bin/sh', async (ctx) => {
  fs.writeFileSync(path.join(ctx.dir, 'noexec'), 'echo x\n');
  fs.writeFileSync(path.join(ctx.dir, 'script'), 'echo from-script "$@"\n', { mode: 0o755 });
  for (const p of ['/no/such/program', 'no-such-program', ctx.dir, path.join(ctx.dir, 'noexec')]) {
    const { qemu, ours } = await both(ctx, { path: p });
    assert.equal(ours, qemu, p);
    assert.match(ours.error.desc, /^Guest agent command failed, error was 'Failed to execute child process \u201c.*\u201d \((No such file or directory|Permission denied)\)'$/);
  }
  const { qemu, ours } = await both(ctx, { path: path.join(ctx.dir, 'script'), arg: ['one'], 'capture-output': true });
  assert.equal(ours, qemu);
  assert.is(ours['out-data'], 'from-script one\n');
  assert.equal(await ctx.p.request('guest-exec-status', { pid: 1 }), await ctx.q.request('guest-exec-status', { pid: 1 }));
});

S('capture-output "merged" (qemu-ga 8.0; 7.2 takes a boolean only): one pipe, so stdout and stderr keep their order', async (ctx) => {
  const script = 'for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done';
  const ours = await run(ctx.p, sh(script, { 'capture-output': 'merged' }));
  assert.is(ours['out-data'], 'out1\nerr1\nout2\nerr2\nout3\nerr3\nout4\nerr4\nout5\nerr5\n');
  assert.not.ok('err-data' in ours);
  assert.equal((await ctx.q.request('guest-exec', sh(script, { 'capture-output': 'merged' }))).error.desc, "Invalid parameter type for 'capture-output', expected: boolean");
});

S.run();

// guest-exec on the real agent, what only phoenix-ga has to arrange: the child gets the
// supervisor's environment (not the worker's minimal one, never PHOENIX_GA_*), a service's umask
// (the worker runs with 077), the supervisor's directory; the 8.0 capture modes; a large
// input-data through the stdin pipe; no descriptor of the agent in the child.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'crypto';
import * as fs from 'fs';
import { Agent, startAgent, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';

const S = suite<{ agent: Agent; c: QgaClient }>('guest-exec on the agent');

S.before(async (ctx) => {
  ctx.agent = startAgent({ interval: 0.5, hangTimeout: 10, args: ['--block-rpcs', ''], env: { PGA_EXEC_PROBE: 'from-the-service', MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '131072' } });
  await ctx.agent.waitReady();
  ctx.c = await QgaClient.connect(ctx.agent.sock);
});
S.after(async (ctx) => { ctx.c.close(); await ctx.agent.stop(); });

async function run(c: QgaClient, args: Record<string, unknown>): Promise<any> {
  const { pid } = (await c.request('guest-exec', args)).return;
  const s = await waitFor('exit', async () => { const x = (await c.request('guest-exec-status', { pid })).return; return x.exited && x; }, 10_000, 20);
  for (const k of ['out-data', 'err-data']) if (k in s) s[k] = Buffer.from(s[k], 'base64').toString('latin1');
  return s;
}

S('the supervisor\'s environment, a service\'s umask and the supervisor\'s directory, whatever the worker has', async ({ agent, c }) => {
  const r = await run(c, { path: '/bin/sh', arg: ['-c', 'env; echo umask=$(umask); echo pwd=$(pwd)'], 'capture-output': true });
  assert.match(r['out-data'], /^PGA_EXEC_PROBE=from-the-service$/m);
  assert.not.match(r['out-data'], /PHOENIX_GA/);
  // The malloc settings the launcher gives the agent's processes are the agent's, not the service's.
  assert.match(fs.readFileSync(`/proc/${agent.proc.pid}/environ`, 'utf8'), /(^|\0)MALLOC_MMAP_THRESHOLD_=131072\0/);
  assert.not.match(r['out-data'], /MALLOC_/);
  assert.match(r['out-data'], /^umask=0022$/m);
  assert.match(r['out-data'], new RegExp(`^pwd=${process.cwd()}$`, 'm'));
  const worker = fs.readFileSync(`/proc/${agent.workerPid()}/status`, 'utf8');
  assert.match(worker, /^Umask:\s+0077$/m, 'the worker itself keeps 077');
  assert.not.match(fs.readFileSync(`/proc/${agent.workerPid()}/environ`, 'utf8'), /PGA_EXEC_PROBE/, 'the worker does not have it: it came from the supervisor');
});

S('capture-output "stdout" and "stderr" (qemu-ga 8.0): one stream kept, the other to /dev/null', async ({ c }) => {
  // $(...) reads the shell's own descriptors before any redirection of the echo.
  const script = { path: '/bin/sh', arg: ['-c', 'echo out; echo err >&2; o=$(readlink /proc/$$/fd/1); e=$(readlink /proc/$$/fd/2); echo "$e"; echo "$o" >&2; true'] };
  const out = await run(c, { ...script, 'capture-output': 'stdout' });
  assert.equal(out, { exited: true, exitcode: 0, 'out-data': 'out\n/dev/null\n', 'out-truncated': false });
  const err = await run(c, { ...script, 'capture-output': 'stderr' });
  assert.equal(err, { exited: true, exitcode: 0, 'err-data': 'err\n/dev/null\n', 'err-truncated': false });
  assert.equal(await run(c, { ...script, 'capture-output': 'none' }), { exited: true, exitcode: 0 });
});

S('a 700 KiB input-data (near the 1 MiB request limit) reaches the program whole through the stdin pipe', async ({ c }) => {
  const input = crypto.randomBytes(700 << 10);
  const r = await run(c, { path: '/usr/bin/sha256sum', 'input-data': input.toString('base64'), 'capture-output': true });
  assert.is(r['out-data'].split(' ')[0], crypto.createHash('sha256').update(input).digest('hex'));
});

S('no descriptor of the agent reaches the child beyond 0, 1 and 2 (and what the supervisor itself was given)', async ({ agent, c }) => {
  const inherited = fs.readdirSync(`/proc/${agent.proc.pid}/fd`).map(Number).filter((fd) => fd > 2 && !fs.readFileSync(`/proc/${agent.proc.pid}/fdinfo/${fd}`, 'utf8').match(/^flags:\s+\d*2\d{6}$/m));
  const r = await run(c, { path: '/bin/sh', arg: ['-c', 'ls /proc/$$/fd'], 'capture-output': true });
  const fds = r['out-data'].trim().split('\n').map(Number).filter((fd: number) => fd > 2);
  assert.ok(fds.every((fd: number) => inherited.includes(fd)), `child fds ${fds} vs the supervisor's own inherited ${inherited}`);
});

S('finished runs nobody asks about are bounded: beyond 64, the oldest is forgotten, the newest kept', async ({ c }) => {
  const start = async (): Promise<number> => (await c.request('guest-exec', { path: '/bin/true' })).return.pid;
  const pids: number[] = [];
  for (let i = 0; i < 66; i++) pids.push(await start());
  await new Promise((r) => setTimeout(r, 1500));
  const last = await start();
  const first = await c.request('guest-exec-status', { pid: pids[0] });
  assert.equal(first.error, { class: 'GenericError', desc: "Invalid parameter 'pid'" }, 'the oldest unclaimed run was forgotten');
  assert.is((await c.request('guest-exec-status', { pid: pids[65] })).return.exited, true, 'a recent one is still there');
  await waitFor('last exit', async () => (await c.request('guest-exec-status', { pid: last })).return.exited, 5000, 20);
});

S.run();

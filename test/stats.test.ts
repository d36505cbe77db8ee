// phoenix-get-stats on this machine, through the real agent: values cross-checked against df,
// /proc/meminfo and ip -s link; cursors; history kept across a worker restart.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { Agent, startAgent, waitFor } from './helpers/agent';
import { QgaClient } from './helpers/qga-client';

const S = suite<{ agent: Agent; c: QgaClient }>('statistics');

S.before(async (ctx) => {
  ctx.agent = startAgent({ interval: 0.5, hangTimeout: 10 });
  await ctx.agent.waitReady();
  ctx.c = await QgaClient.connect(ctx.agent.sock);
  assert.equal((await ctx.c.request('phoenix-set-stats', { interval: 1, history: 50 })).return, { interval: 1, history: 50 });
});
S.after(async (ctx) => {
  ctx.c.close();
  await ctx.agent.stop();
});

const stats = async (c: QgaClient, args: Record<string, unknown> = {}) => {
  const r = await c.request('phoenix-get-stats', args);
  if (!r.return) throw new Error(`phoenix-get-stats failed: ${JSON.stringify(r)}`);
  return r.return;
};

S('samples arrive at the interval the panel set, each one costs no process', async ({ c }) => {
  const r = await waitFor('3 samples', async () => { const x = await stats(c); return x.samples.length >= 3 && x; }, 15_000, 300);
  assert.is(r.interval_ms, 1000);
  const s = r.samples;
  assert.ok(s.every((x: { seq: number }, i: number) => i === 0 || x.seq === s[i - 1].seq + 1), 'consecutive sequence numbers');
  assert.ok(s.slice(1).every((x: { interval_ms: number }) => x.interval_ms > 800 && x.interval_ms < 2500), JSON.stringify(s.map((x: { interval_ms: number }) => x.interval_ms)));
  assert.is(r.cost.spawned, 0, 'no process spawned for a sample');
  assert.ok(r.cost.cpuUs < 20_000, `a sample cost ${r.cost.cpuUs} us of CPU`);
});

S('values agree with df, /proc/meminfo, ip -s link and /proc/stat', async ({ c }) => {
  const last = (await stats(c)).samples.at(-1);
  const df = execFileSync('df', ['-B1', '--output=target,size,used,avail,itotal,iused', '/'], { encoding: 'utf8' }).trim().split('\n')[1].trim().split(/\s+/).map((x, i) => (i ? Number(x) : x));
  const root = last.filesystems.find((f: { mountpoint: string }) => f.mountpoint === '/');
  assert.is(root.size_bytes, df[1]);
  assert.ok(Math.abs(root.used_bytes - (df[2] as number)) < 64 << 20, `used ${root.used_bytes} vs df ${df[2]}`);
  assert.ok(Math.abs(root.free_bytes - (df[3] as number)) < 64 << 20);
  assert.is(root.inodes_total, df[4]);
  const memTotal = Number(/MemTotal:\s+(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;
  assert.is(last.memory.total_bytes, memTotal);
  assert.ok(last.memory.available_bytes > 0 && last.memory.available_bytes <= memTotal);
  const links = JSON.parse(execFileSync('ip', ['-j', '-s', 'link'], { encoding: 'utf8' })) as Array<{ ifname: string }>;
  assert.equal(last.interfaces.map((i: { name: string }) => i.name).sort(), links.map((l) => l.ifname).sort());
  const cpus = fs.readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d/.test(l)).length;
  assert.is(last.cpu.per_cpu.length, cpus);
  assert.ok(last.cpu.total.idle >= 0 && last.cpu.total.idle <= 100);
  assert.ok(typeof last.oom_kills === 'number');
  assert.ok(last.processes > 5);
  assert.ok(last.uptime_s > 0);
});

S('network rates are real: traffic on lo shows up', async ({ c }) => {
  const before = (await stats(c)).history.last_seq;
  // About 2 MB over loopback within the next sample.
  const net = require('net');
  await new Promise<void>((resolve) => {
    const srv = net.createServer((s: import('net').Socket) => { s.resume(); s.on('end', () => { srv.close(); resolve(); }); });
    srv.listen(0, '127.0.0.1', () => { const k = net.connect(srv.address().port, '127.0.0.1', () => { k.end(Buffer.alloc(2 << 20)); }); });
  });
  const r = await waitFor('two more samples', async () => { const x = await stats(c, { since: before }); return x.samples.length >= 2 && x; }, 10_000, 300);
  const peak = Math.max(...r.samples.map((s: { interfaces: Array<{ name: string; rx_bytes_per_s: number }> }) => s.interfaces.find((i) => i.name === 'lo')!.rx_bytes_per_s));
  assert.ok(peak > 1_000_000, `lo rx peaked at ${peak} B/s`);
});

S('a cursor returns only newer samples; bad cursors get precise errors', async ({ c }) => {
  const all = await stats(c);
  const cur = all.history.last_seq;
  assert.equal((await stats(c, { since: cur })).samples.filter((s: { seq: number }) => s.seq <= cur), []);
  const ahead = await c.request('phoenix-get-stats', { since: cur + 1000 });
  assert.match(ahead.error.desc, /^Parameter 'since' is ahead of the history: \d+ > \d+/);
  const oldBoot = await c.request('phoenix-get-stats', { since: 1, boot: '00000000-0000-0000-0000-000000000000' });
  assert.match(oldBoot.error.desc, /^Parameter 'boot' names a previous boot/);
  assert.match((await c.request('phoenix-get-stats', { since: -1 })).error.desc, /^Parameter 'since' is out of range/);
  assert.match((await c.request('phoenix-get-stats', { since: '3' })).error.desc, /^Invalid parameter type for 'since', expected: integer/);
  assert.match((await c.request('phoenix-get-stats', { cursor: 3 })).error.desc, /^Parameter 'cursor' is unexpected/);
  assert.is(all.boot, fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
});

S('the history survives a worker restart, and so does the interval the panel set', async ({ agent, c }) => {
  const before = await stats(c);
  const pid = agent.workerPid()!;
  process.kill(pid, 'SIGKILL');
  await waitFor('new worker', () => { const s = agent.state(); return s?.worker.state === 'ready' && s.worker.pid !== pid; }, 5000);
  const c2 = await QgaClient.connect(agent.sock);
  const after = (await c2.request('phoenix-get-stats', {})).return;
  assert.ok(after.history.first_seq <= before.history.last_seq, 'old samples are still there');
  assert.equal(after.samples.slice(0, 3).map((s: { seq: number }) => s.seq), before.samples.slice(0, 3).map((s: { seq: number }) => s.seq));
  assert.is(after.interval_ms, 1000);
  assert.is(after.history.capacity, 50);
  c2.close();
});

S.run();

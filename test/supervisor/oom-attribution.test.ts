// Which SIGKILL deaths of the worker are called kernel-oom: only those with evidence about our
// worker (the OOM count of a cgroup holding only our processes, or the kernel log naming its pid).
// Real OOM kills in real memory cgroups (v1, as on this host and CentOS 7; CI has it), real kills.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { startAgent, SUPERVISOR, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';

const V1_MEMORY = '/sys/fs/cgroup/memory';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function memoryCgroup(name: string, limitMb: number): string {
  if (process.getuid!() !== 0 || !fs.existsSync(path.join(V1_MEMORY, 'cgroup.procs'))) {
    throw new Error('needs root and the cgroup v1 memory controller at /sys/fs/cgroup/memory (CI has both)');
  }
  const cg = path.join(V1_MEMORY, `phoenix-ga-test-${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  fs.mkdirSync(cg);
  fs.writeFileSync(path.join(cg, 'memory.limit_in_bytes'), String(limitMb << 20));
  return cg;
}

const oomKills = (cg: string) => Number(/^oom_kill (\d+)$/m.exec(fs.readFileSync(path.join(cg, 'memory.oom_control'), 'utf8'))?.[1] ?? 0);

function removeCgroup(cg: string): void {
  for (let i = 0; i < 50; i++) { try { fs.rmdirSync(cg); return; } catch { /* still populated for a moment */ } }
}

test("a person's kill -9 is not kernel-oom when another program is OOM-killed in the same tick", async () => {
  const cg = memoryCgroup('other', 64);
  const agent = startAgent({ interval: 0.2, hangTimeout: 10 });
  try {
    const pid = await agent.waitReady();
    // Another program, in a cgroup of its own, grows until the kernel OOM-kills it.
    const hog = spawn('sh', ['-c', `echo $$ > ${cg}/cgroup.procs && exec perl -e 'my @a; push @a, "x" x (1 << 20) while 1'`], { stdio: 'ignore' });
    await waitFor('the other program OOM-killed', () => oomKills(cg) > 0, 20_000);
    process.kill(pid, 'SIGKILL');
    await waitFor('worker death', () => agent.state()!.deaths.length > 0, 5000);
    const d = agent.state()!.deaths.at(-1)!;
    assert.is(hog.signalCode, 'SIGKILL', 'the other program was the victim');
    assert.equal([d.reason, d.signal], ['signal', 'SIGKILL'], 'killed (SIGKILL), cause unknown');
    await waitFor('restart', () => { const s = agent.state(); return s?.worker.state === 'ready' && s.worker.pid !== pid; }, 5000);
    assert.match(execFileSync(process.execPath, [SUPERVISOR, 'status', '--run-dir', agent.runDir], { encoding: 'utf8' }), /signal +killed \(SIGKILL\), cause unknown/);
  } finally {
    await agent.stop();
    removeCgroup(cg);
  }
});

test('an OOM kill of the worker in a cgroup it shares with another program is kernel-oom: the kernel log names its pid', async () => {
  const cg = memoryCgroup('shared', 96);
  const agent = startAgent({ interval: 0.2, hangTimeout: 10, testCommands: true });
  const other = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    const pid = await agent.waitReady();
    fs.writeFileSync(path.join(cg, 'cgroup.procs'), String(other.pid));
    fs.writeFileSync(path.join(cg, 'cgroup.procs'), String(pid));
    await sleep(500); // a tick notes the worker's new cgroup, shared: its count is no evidence
    const c = await QgaClient.connect(agent.sock);
    c.write('{"execute":"phoenix-test-alloc","arguments":{"mb":300,"where":"buffer"}}');
    await waitFor('worker death', () => agent.state()!.deaths.length > 0, 20_000);
    const d = agent.state()!.deaths.at(-1)!;
    assert.equal([d.reason, d.signal], ['kernel-oom', 'SIGKILL']);
    assert.is(other.exitCode ?? other.signalCode, null, 'the other program lives');
    c.close();
  } finally {
    other.kill('SIGKILL');
    await agent.stop();
    removeCgroup(cg);
  }
});

test.run();

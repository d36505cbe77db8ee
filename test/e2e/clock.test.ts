// Clock healing in a real VM: QEMU is paused on its monitor (`stop`, 60 s, `cont`), as for a
// migration, a snapshot or a host suspend. Under TCG the guest's clocks stand still meanwhile while
// its RTC (QEMU's default -rtc base=utc,clock=host) follows the host, so the guest comes back 60 s
// behind. The agent must step it back within one check and say so in phoenix-agent-status and in
// the heartbeat; with clock-heal = off the same pause leaves the guest behind (the test can fail).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { AgentClient } from '../../panel/agent-client';
import type { ClockReport } from '../../supervisor/ipc';
import { ROOT, tempDir, waitFor } from '../helpers/agent';
import { startReceiver } from '../helpers/receiver';
import { note, since } from './lib/host';
import { prepareRoot } from './lib/nspawn';
import { ensureTree } from './lib/rootfs';
import { startVm, Vm } from './lib/vm';

const CLI = path.join(ROOT, 'dist/phoenix-ga');
const VM_ID = 'vm-clock';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Installed by its installer; a check every 2 s (the watchdog ping), heartbeats to the host; a
 * patient watchdog, since a worker's first start under TCG on a busy host can take over 20 s. */
function prepareImage(merged: string, port: number, keyFile: string): void {
  const r = spawnSync(CLI, ['install', '--root', merged], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stdout + r.stderr);
  fs.writeFileSync(path.join(merged, 'etc/phoenix-ga/heartbeat.key'), fs.readFileSync(keyFile, 'utf8'), { mode: 0o600 });
  fs.appendFileSync(path.join(merged, 'etc/phoenix-ga/phoenix-ga.conf'), `heartbeat = 10.0.2.2:${port}\nheartbeat-interval = 2\nvm-id = ${VM_ID}\nhang-timeout = 120\n`);
}

/** Guest wall clock minus host wall clock, from the fastest of 3 guest-get-time calls (the error is at most half its round trip). */
async function skew(c: AgentClient): Promise<{ ms: number; rtt: number }> {
  let best = { ms: 0, rtt: Infinity };
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    const ns = await c.call('guest-get-time', undefined, { timeoutMs: 10_000 }) as number;
    const t1 = Date.now();
    if (t1 - t0 < best.rtt) best = { ms: Math.round(ns / 1e6 - (t0 + t1) / 2), rtt: t1 - t0 };
  }
  return best;
}

/** The status's clock report; undefined until the worker has sent its first. */
async function clockOf(c: AgentClient): Promise<ClockReport | undefined> {
  return ((await c.call('phoenix-agent-status', undefined, { timeoutMs: 10_000 })) as { clock?: ClockReport }).clock;
}

async function pause(vm: Vm, ms: number): Promise<void> {
  await vm.monitor('stop');
  assert.is((await vm.monitor('query-status') as { status: string }).status, 'paused');
  await sleep(ms);
  await vm.monitor('cont');
}

const S = suite('clock healing in a QEMU VM paused on its monitor');

S('a 60 s pause is given back within one check, reported; with clock-heal = off it stays', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const t0 = Date.now();
  const dir = tempDir('pga-clock-');
  const rx = await startReceiver(dir, VM_ID);
  const root = await prepareRoot(await ensureTree('vm'), 'vm-clock');
  let vm: Vm | null = null;
  let c: AgentClient | null = null;
  try {
    prepareImage(root.merged, rx.port, rx.keyFile);
    vm = await startVm({ tree: root.merged, memMb: 384 });
    const v = vm;
    c = await waitFor('the agent', async () => {
      const a = new AgentClient({ path: v.agentSock, attempts: 1 });
      try { await a.call('guest-ping', undefined, { timeoutMs: 3000 }); return a; } catch { a.close(); return null; }
    }, 240_000, 500);
    const client = c;
    const baseline = await waitFor('a measured RTC offset', async () => { const k = await clockOf(client); return k && k.rtc_offset_ms !== null ? k : null; }, 30_000, 500);
    assert.is(baseline.heal, 'on');
    const before = await skew(c);
    note(`clock e2e: agent up ${since(t0)} after start; guest - host ${before.ms} ms (rtt ${before.rtt} ms), wall - RTC ${baseline.rtc_offset_ms} ms`);

    const paused = Date.now();
    await pause(vm, 60_000);
    const healed = await waitFor('a correction', async () => { const k = await clockOf(client); return k?.last ? k : null; }, 30_000, 250);
    const after = await skew(c);
    note(`clock e2e: corrected ${since(paused + 60_000)} after cont: ${JSON.stringify(healed.last)}; guest - host now ${after.ms} ms (rtt ${after.rtt} ms)`);
    assert.is(healed.last!.result, 'stepped', healed.last!.why);
    assert.ok(Math.abs(healed.last!.step_ms - 60_000) < 3000, `stepped by ${healed.last!.step_ms} ms for a 60 s pause`);
    // Where the guest was before the pause (its own offset from the RTC is kept, not corrected), within 2 s.
    assert.ok(Math.abs(after.ms - before.ms) <= 2000 + (after.rtt + before.rtt) / 2, `guest - host went from ${before.ms} to ${after.ms} ms`);
    assert.ok(Math.abs(after.ms) <= 2000 + after.rtt / 2 + Math.abs(before.ms), `guest - host ${after.ms} ms`);
    const beat = await waitFor('a heartbeat with the correction', async () => rx.beats.map((b) => b.view.payload?.clock).reverse().find((k) => k?.last?.result === 'stepped') ?? null, 15_000, 250);
    assert.is(beat.last!.step_ms, healed.last!.step_ms);

    // The same pause with healing off: the guest stays behind.
    await vm.shell("echo 'clock-heal = off' >> /etc/phoenix-ga/phoenix-ga.conf && kill -HUP $(pgrep -x phoenix-ga)");
    await waitFor('clock-heal off', async () => (await clockOf(client))?.heal === 'off', 30_000, 500);
    const before2 = await skew(c);
    await pause(vm, 30_000);
    await sleep(8000);
    const after2 = await skew(c);
    note(`clock e2e: with clock-heal = off, guest - host went from ${before2.ms} to ${after2.ms} ms over a 30 s pause`);
    assert.ok(after2.ms - before2.ms < -25_000, `guest - host went from ${before2.ms} to ${after2.ms} ms`);
    assert.equal((await clockOf(c))?.last?.at, healed.last!.at, 'no correction while off');
    note(`clock e2e: done in ${since(t0)}`);
  } catch (e) {
    if (vm) {
      const j = await vm.shell('journalctl -u phoenix-ga --no-pager | tail -40; tail -40 /var/log/phoenix-ga.log').catch(() => ({ out: '' }));
      console.error(`--- guest log ---\n${j.out}`);
    }
    throw e;
  } finally {
    c?.close();
    await vm?.stop();
    await root.cleanup();
    rx.close();
  }
});

S.run();

// Rates from counters: captured snapshots one second apart, and the wrap and reset cases.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'path';
import { readCounters } from '../../../agent/stats/counters';
import { computeSample, counterDelta, cpuPercent, MAX_SERIES } from '../../../agent/stats/sample';
import { createHost, Host } from '../../../agent/os/host';
import { ROOT, tempDir } from '../../helpers/agent';
import * as fs from 'fs';

/** A root tree whose /proc holds one captured snapshot. */
function treeOf(dir: string): Host {
  const root = tempDir('proc-');
  const src = path.join(ROOT, 'test/fixtures/proc', dir);
  fs.mkdirSync(path.join(root, 'proc/net'), { recursive: true });
  fs.mkdirSync(path.join(root, 'proc/self'), { recursive: true });
  for (const f of ['stat', 'meminfo', 'diskstats', 'loadavg', 'uptime', 'vmstat']) if (fs.existsSync(path.join(src, f))) fs.copyFileSync(path.join(src, f), path.join(root, 'proc', f));
  if (fs.existsSync(path.join(src, 'net_dev'))) fs.copyFileSync(path.join(src, 'net_dev'), path.join(root, 'proc/net/dev'));
  fs.mkdirSync(path.join(root, 'sys/block/vda'), { recursive: true });
  return createHost(root);
}

test('counter deltas: increase, 32-bit wrap, reset', () => {
  assert.is(counterDelta(10, 15), 5);
  assert.is(counterDelta(4294967000, 200), 496);
  assert.is(counterDelta(5_000_000_000, 10), null, 'a 64-bit counter going down is a reset');
  assert.is(counterDelta(1000, 10), null, 'a small counter going down is a reset (interface re-created)');
  assert.is(counterDelta(undefined, 10), null);
});

test('cpu percentages add up to 100 and count steal apart', () => {
  const p = cpuPercent({ user: 100, nice: 0, system: 50, idle: 800, iowait: 10, irq: 5, softirq: 5, steal: 30 }, { user: 200, nice: 0, system: 100, idle: 1600, iowait: 20, irq: 10, softirq: 10, steal: 60 })!;
  assert.equal(p, { user: 10, nice: 0, system: 6, iowait: 1, steal: 3, idle: 80 });
});

test('a sample between two captured snapshots of this machine', async () => {
  let t = 1000;
  const a = await readCounters(treeOf('linux-6.18-a'), () => t);
  t = 2000;
  const b = await readCounters(treeOf('linux-6.18-b'), () => t);
  const s = computeSample(a, b, 7, Date.parse('2026-12-01T00:00:00Z'));
  assert.is(s.seq, 7);
  assert.is(s.interval_ms, 1000);
  const c = s.cpu!.total;
  const sum = c.user + c.nice + c.system + c.iowait + c.steal + c.idle;
  assert.ok(Math.abs(sum - 100) < 0.1, `cpu adds up to ${sum}`);
  assert.is(s.cpu!.per_cpu.length, 2);
  assert.ok(s.memory.total_bytes! > s.memory.available_bytes! && s.memory.available_bytes! > 0);
  assert.equal(s.memory.used_bytes, s.memory.total_bytes! - s.memory.available_bytes!);
  assert.ok(s.disks.some((d) => d.name === 'vda' && typeof d.read_bytes_per_s === 'number'));
  assert.ok((s.interfaces.find((i) => i.name === 'eth0')!.rx_bytes_per_s as number) >= 0);
});

test('3.10 layout: MemAvailable estimated, no OOM counter, a 32-bit wrapped interface counter', async () => {
  let t = 0;
  const host = treeOf('linux-3.10');
  const a = await readCounters(host, () => t);
  // One second later eth0's 32-bit rx counter wrapped past 2^32.
  const b = { ...a, at: 1000, net: new Map(a.net) };
  b.net.set('eth0', { ...a.net.get('eth0')!, rxBytes: 1000 });
  const s = computeSample(a, b, 1, 0);
  assert.is(s.oom_kills, null);
  assert.is(s.memory.available_bytes, (104512 + 76584 + 512300) * 1024);
  assert.is(s.interfaces.find((i) => i.name === 'eth0')!.rx_bytes_per_s, 4294967296 - 4294967000 + 1000);

});

test('a different boot id means no rates across it', async () => {
  const a = await readCounters(treeOf('linux-6.18-a'), () => 0);
  const b = { ...(await readCounters(treeOf('linux-6.18-b'), () => 1000)), boot: 'another-boot' };
  const s = computeSample({ ...a, boot: 'one-boot' }, b, 1, 0);
  assert.is(s.cpu, null);
  assert.ok(s.interfaces.every((i) => i.rx_bytes_per_s === null));
});

test('at most MAX_SERIES interfaces per sample, the first ones in the kernel order', async () => {
  const a = await readCounters(treeOf('linux-6.18-a'), () => 0);
  const net = new Map([...Array(200)].map((_, i) => [`veth${i}`, a.net.get('eth0')!] as const));
  const s = computeSample({ ...a, net }, { ...a, at: 1000, net }, 1, 0);
  assert.is(s.interfaces.length, MAX_SERIES);
  assert.equal(s.interfaces.slice(0, 2).map((i) => i.name), ['veth0', 'veth1']);
});

test.run();

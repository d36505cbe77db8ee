// qemu-ga's read commands, sent to Debian's qemu-ga and to phoenix-ga on the same machine: the
// same keys and types, and the same values where the machine state is the same. Deliberate
// differences (extra fields) are listed in docs/protocol.md and named here. Both run in one
// private mount namespace: the file systems they list are the machine's at the test's start,
// whatever other processes mount meanwhile, without other tests' loop-device images.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Agent, startAgent } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { MountNamespace, privateMountNamespace } from '../helpers/mount-namespace';
import { QemuGa, startQemuGa } from '../helpers/qemu-ga';

const S = suite<{ qga: QemuGa; agent: Agent; q: QgaClient; p: QgaClient; ns: MountNamespace }>('reads vs qemu-ga');

S.before(async (ctx) => {
  ctx.ns = await privateMountNamespace();
  ctx.qga = await startQemuGa([], ctx.ns.wrap);
  ctx.agent = startAgent({ interval: 1, hangTimeout: 10, wrap: ctx.ns.wrap });
  await ctx.agent.waitReady();
  ctx.q = await QgaClient.connect(ctx.qga.sock);
  ctx.p = await QgaClient.connect(ctx.agent.sock);
});
S.after(async (ctx) => {
  ctx.q.close(); ctx.p.close();
  ctx.qga.stop();
  await ctx.agent.stop();
  ctx.ns.close();
});

const both = async ({ q, p }: { q: QgaClient; p: QgaClient }, cmd: string) => {
  const [a, b] = await Promise.all([q.request(cmd), p.request(cmd)]);
  assert.ok('return' in a, `qemu-ga: ${JSON.stringify(a)}`);
  assert.ok('return' in b, `phoenix-ga: ${JSON.stringify(b)}`);
  return { qemu: a.return, ours: b.return };
};

/** Keys with the type of each value, nested objects and arrays' first element included. */
function shape(v: unknown, extra: string[] = []): unknown {
  if (Array.isArray(v)) return v.length ? [shape(v[0], extra)] : [];
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).filter((k) => !extra.includes(k)).sort().map((k) => [k, shape((v as Record<string, unknown>)[k], extra)]));
  }
  return typeof v;
}

S('guest-get-osinfo: identical', async (ctx) => {
  const { qemu, ours } = await both(ctx, 'guest-get-osinfo');
  assert.equal(ours, qemu);
});

S('guest-get-host-name: identical', async (ctx) => {
  const { qemu, ours } = await both(ctx, 'guest-get-host-name');
  assert.equal(ours, qemu);
});

S('guest-get-timezone: identical', async (ctx) => {
  const { qemu, ours } = await both(ctx, 'guest-get-timezone');
  assert.equal(ours, qemu);
});

S('guest-get-time: both now, in nanoseconds', async (ctx) => {
  const { qemu, ours } = await both(ctx, 'guest-get-time');
  assert.ok(Math.abs(Number(ours) - Number(qemu)) < 2e9, `${ours} vs ${qemu}`);
  assert.ok(Math.abs(Number(ours) / 1e6 - Date.now()) < 2000);
});

S('guest-get-vcpus: the same CPUs (order by id)', async (ctx) => {
  const { qemu, ours } = await both(ctx, 'guest-get-vcpus');
  const byId = (l: Array<{ 'logical-id': number }>) => [...l].sort((x, y) => x['logical-id'] - y['logical-id']);
  assert.equal(ours, byId(qemu));
});

S('guest-get-users: identical', async (ctx) => {
  const { qemu, ours } = await both(ctx, 'guest-get-users');
  assert.equal(ours, qemu);
});

S('guest-network-get-interfaces: same interfaces, addresses and shape, the default route\'s first; counters close', async (ctx) => {
  const { qemu, ours } = await both(ctx, 'guest-network-get-interfaces');
  const strip = (l: Array<Record<string, unknown>>) => l.map(({ statistics, ...rest }) => ({ ...rest, hasStats: statistics !== undefined }) as Record<string, unknown>)
    .sort((a, b) => String(a.name).localeCompare(String(b.name)));
  assert.equal(strip(ours), strip(qemu));
  // The order differs by design (interfaces-order = real-first): the default route's interface
  // first; qemu-ga's order (ifindex) is kept among the software devices.
  const names = (l: Array<{ name: string; }>) => l.map((i) => i.name);
  const gw = /^(\S+)\t00000000\t/m.exec(require('fs').readFileSync('/proc/net/route', 'utf8'))?.[1];
  if (gw) assert.is(names(ours)[0], gw);
  const virtual = (n: string) => require('fs').realpathSync(`/sys/class/net/${n}`).includes('/virtual/');
  assert.equal(names(ours).filter(virtual), names(qemu).filter(virtual));
  assert.equal(shape(ours), shape(qemu));
  for (const i of qemu as Array<{ name: string; statistics?: Record<string, number> }>) {
    if (!i.statistics) continue;
    const mine = (ours as typeof qemu).find((x: { name: string }) => x.name === i.name).statistics;
    assert.ok(mine['rx-packets'] >= i.statistics['rx-packets'] && mine['rx-packets'] - i.statistics['rx-packets'] < 10_000, i.name);
  }
});

S('guest-get-fsinfo: same file systems and totals; phoenix-ga adds total-bytes-privileged and the disk serial', async (ctx) => {
  const { qemu, ours } = await both(ctx, 'guest-get-fsinfo');
  const extra = ['total-bytes-privileged', 'serial'];
  assert.equal(shape(ours, extra), shape(qemu, extra));
  assert.equal(ours.map((f: { mountpoint: string }) => f.mountpoint), qemu.map((f: { mountpoint: string }) => f.mountpoint));
  for (let i = 0; i < qemu.length; i++) {
    const a = qemu[i], b = ours[i];
    assert.is(b.name, a.name);
    assert.is(b.type, a.type);
    assert.is(b['total-bytes'], a['total-bytes']);
    assert.ok(Math.abs(b['used-bytes'] - a['used-bytes']) < 64 << 20, `${a.mountpoint} used ${b['used-bytes']} vs ${a['used-bytes']}`);
    const strip = (d: Array<Record<string, unknown>>) => d.map(({ serial, ...rest }) => rest);
    assert.equal(strip(b.disk), strip(a.disk));
  }
});

S('guest-get-cpustats: same CPUs and fields, counters close', async (ctx) => {
  const { qemu, ours } = await both(ctx, 'guest-get-cpustats');
  assert.equal(shape(ours), shape(qemu));
  assert.is(ours.length, qemu.length);
  for (let i = 0; i < qemu.length; i++) assert.ok(ours[i].idle >= qemu[i].idle && ours[i].idle - qemu[i].idle < 60_000);
});

S('guest-get-diskstats: same devices and fields', async (ctx) => {
  const { qemu, ours } = await both(ctx, 'guest-get-diskstats');
  assert.equal(ours.map((d: { name: string }) => d.name), qemu.map((d: { name: string }) => d.name));
  assert.equal(shape(ours), shape(qemu));
  assert.equal(ours.map((d: { major: number; minor: number }) => [d.major, d.minor]), qemu.map((d: { major: number; minor: number }) => [d.major, d.minor]));
});

S('guest-get-load and guest-network-get-route: newer than this qemu-ga (10.0, 9.1), in their schema shapes', async (ctx) => {
  const load = await ctx.p.request('guest-get-load');
  assert.equal(Object.keys(load.return).sort(), ['load15m', 'load1m', 'load5m']);
  assert.equal((await ctx.q.request('guest-get-load')).error.class, 'CommandNotFound');
  const routes = (await ctx.p.request('guest-network-get-route')).return;
  const v4 = routes.find((r: { version: number }) => r.version === 4);
  assert.equal(Object.keys(v4).sort(), ['destination', 'flags', 'gateway', 'iface', 'irtt', 'mask', 'metric', 'mtu', 'refcnt', 'use', 'version', 'window']);
  const v6 = routes.find((r: { version: number }) => r.version === 6);
  assert.equal(Object.keys(v6).sort(), ['desprefixlen', 'destination', 'flags', 'iface', 'metric', 'nexthop', 'refcnt', 'source', 'srcprefixlen', 'use', 'version']);
});

S.run();

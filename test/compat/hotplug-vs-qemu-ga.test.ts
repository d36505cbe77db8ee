// Memory blocks, vCPUs, disks, file systems and suspend, sent to Debian's qemu-ga and to
// phoenix-ga on this machine's real sysfs. Only requests that change nothing are sent here (CPUs
// and blocks asked to stay as they are, ids that do not exist): this machine is shared, and
// taking a CPU or memory offline is tested on a temporary tree (test/actions/hotplug.test.ts).
// Suspend is sent only where the kernel cannot suspend (/sys/power/state without mem and disk).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Agent, startAgent, tempDir } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { QemuGa, startQemuGa } from '../helpers/qemu-ga';

const S = suite<{ qga: QemuGa; agent: Agent; q: QgaClient; p: QgaClient }>('hotplug, disks and suspend vs qemu-ga');

S.before(async (ctx) => {
  ctx.qga = await startQemuGa();
  ctx.agent = startAgent({ interval: 1, hangTimeout: 10 });
  await ctx.agent.waitReady();
  ctx.q = await QgaClient.connect(ctx.qga.sock);
  ctx.p = await QgaClient.connect(ctx.agent.sock);
});
S.after(async (ctx) => {
  ctx.q.close(); ctx.p.close();
  ctx.qga.stop();
  await ctx.agent.stop();
});

const both = async (ctx: { q: QgaClient; p: QgaClient }, cmd: string, args?: unknown) => ({ qemu: await ctx.q.request(cmd, args), ours: await ctx.p.request(cmd, args) });
const byKey = <T>(k: keyof T) => (l: T[]) => [...l].sort((a, b) => Number(a[k]) - Number(b[k]));

S('guest-info: every command qemu-ga 7.2 enables on Linux is there, with the same success-response', async (ctx) => {
  const { qemu, ours } = await both(ctx, 'guest-info');
  const mine = new Map((ours.return.supported_commands as Array<{ name: string; 'success-response': boolean }>).map((c) => [c.name, c['success-response']]));
  for (const c of qemu.return.supported_commands as Array<{ name: string; enabled: boolean; 'success-response': boolean }>) {
    if (!c.enabled) continue;
    assert.is(mine.get(c.name), c['success-response'], c.name);
  }
});

S('guest-get-memory-blocks and guest-get-memory-block-info: identical (blocks by phys-index)', async (ctx) => {
  const blocks = await both(ctx, 'guest-get-memory-blocks');
  assert.equal(blocks.ours.return, byKey<{ 'phys-index': number }>('phys-index')(blocks.qemu.return));
  assert.is(blocks.ours.return.length, fs.readdirSync('/sys/devices/system/memory').filter((n) => /^memory\d+$/.test(n)).length);
  const info = await both(ctx, 'guest-get-memory-block-info');
  assert.equal(info.ours, info.qemu);
});

S('guest-set-vcpus: the same answers, partial success counted as qemu-ga does', async (ctx) => {
  const vcpus: Array<{ 'logical-id': number; online: boolean; 'can-offline': boolean }> = (await ctx.q.request('guest-get-vcpus')).return;
  const fixed = vcpus.find((v) => !v['can-offline']);
  const online = vcpus.filter((v) => v.online).map((v) => ({ 'logical-id': v['logical-id'], online: true }));
  const cases: unknown[] = [
    { vcpus: [] },
    { vcpus: online },
    { vcpus: [...online, { 'logical-id': 4096, online: true }] },
    { vcpus: [{ 'logical-id': 4096, online: true }, ...online] },
    { vcpus: [{ 'logical-id': -1, online: true }] },
    { vcpus: [{ 'logical-id': online[0]['logical-id'], online: true, 'can-offline': false }] },
    { vcpus: [{ 'logical-id': 1 }] },
    { vcpus: [{ 'logical-id': 1.5, online: true }] },
    { vcpus: [{ 'logical-id': 1, online: true, x: 1 }] },
    { vcpus: {} },
    {},
  ];
  if (fixed) cases.push({ vcpus: [{ 'logical-id': fixed['logical-id'], online: false }] }, { vcpus: [...online, { 'logical-id': fixed['logical-id'], online: false }] });
  for (const args of cases) {
    const { qemu, ours } = await both(ctx, 'guest-set-vcpus', args);
    assert.equal(ours, qemu, JSON.stringify(args));
  }
  assert.equal((await ctx.p.request('guest-get-vcpus')).return, byKey<{ 'logical-id': number }>('logical-id')(vcpus), 'nothing changed');
});

S('guest-set-memory-blocks: the same answers per block, error-code included; 64-bit phys-index as qemu-ga', async (ctx) => {
  const blocks: Array<{ 'phys-index': number; online: boolean }> = (await ctx.q.request('guest-get-memory-blocks')).return;
  const some = blocks.slice(0, 3).map((b) => ({ 'phys-index': b['phys-index'], online: b.online }));
  // Raw requests and replies with long numbers kept as text: 2^64-1 must come back digit for digit.
  const exact = async (c: QgaClient, body: string) => { c.write(`{"execute":"guest-set-memory-blocks","arguments":${body}}`); return JSON.parse((await c.nextLine()).replace(/(\d{16,})/g, '"$1"')); };
  for (const body of [
    '{"mem-blks":[]}',
    JSON.stringify({ 'mem-blks': [...some, { 'phys-index': 99999, online: true }, { 'phys-index': 99999, online: false }] }),
    '{"mem-blks":[{"phys-index":-1,"online":true}]}',
    '{"mem-blks":[{"phys-index":18446744073709551615,"online":true}]}',
    '{"mem-blks":[{"phys-index":18446744073709551616,"online":true}]}',
    '{"mem-blks":[{"phys-index":-9223372036854775808,"online":true}]}',
    '{"mem-blks":[{"phys-index":1.5,"online":true}]}',
    '{"mem-blks":[{"phys-index":"a","online":true}]}',
    '{"mem-blks":[{"phys-index":0,"online":true,"can-offline":true}]}',
  ]) {
    assert.equal(await exact(ctx.p, body), await exact(ctx.q, body), body);
  }
});

S('guest-get-disks: the same disks and addresses (phoenix-ga adds the sysfs serial where udev has none)', async (ctx) => {
  const { qemu, ours } = await both(ctx, 'guest-get-disks');
  const strip = (l: Array<{ address?: Record<string, unknown> }>) => l.map((d) => (d.address ? { ...d, address: { ...d.address, serial: undefined } } : d));
  assert.equal(JSON.parse(JSON.stringify(strip(ours.return))), JSON.parse(JSON.stringify(strip(qemu.return))));
  assert.ok(ours.return.length > 0);
});

S('guest-get-fsinfo: a loop device has "disk": [] and a major-0 mount with a /dev source (as a FUSE mount) is left out, as qemu-ga', async (ctx) => {
  if (process.getuid!() !== 0) throw new Error('needs root for mounts (CI is root)');
  const dir = tempDir('fsinfo-');
  const img = path.join(dir, 'fs.img'), loopMnt = path.join(dir, 'loop'), fake = path.join(dir, 'fake');
  fs.mkdirSync(loopMnt); fs.mkdirSync(fake);
  execFileSync('truncate', ['-s', '16M', img]);
  execFileSync('mkfs.ext4', ['-q', '-F', img]);
  execFileSync('mount', ['-o', 'loop', img, loopMnt]);
  // Major 0 like every FUSE, tmpfs or network mount, but its source looks like a device.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', '/dev/not-a-disk', fake]);
  try {
    const { qemu, ours } = await both(ctx, 'guest-get-fsinfo');
    const find = (l: Array<{ mountpoint: string }>, mp: string) => l.find((f) => f.mountpoint === mp) as Record<string, unknown> | undefined;
    const q = find(qemu.return, loopMnt)!, p = find(ours.return, loopMnt)!;
    assert.ok(q && p, 'both list the loop mount');
    assert.equal(p.disk, []);
    assert.equal(q.disk, []);
    assert.is(p.name, q.name);
    assert.match(String(p.name), /^loop\d+$/);
    assert.is(find(qemu.return, fake), undefined);
    assert.is(find(ours.return, fake), undefined);
    assert.equal(ours.return.map((f: { mountpoint: string }) => f.mountpoint), qemu.return.map((f: { mountpoint: string }) => f.mountpoint));
  } finally {
    execFileSync('umount', [fake]);
    execFileSync('umount', [loopMnt]);
  }
});

S('guest-suspend-*: where the kernel cannot suspend, qemu-ga answers nothing (as if done) or "unknown guest suspend mode"; phoenix-ga says why', async (ctx) => {
  const offered = fs.readFileSync('/sys/power/state', 'utf8').trim().split(/\s+/).filter(Boolean);
  if (offered.includes('mem') || offered.includes('disk')) {
    // A kernel that can suspend: never send suspend to a shared machine. Say so instead of passing silently.
    console.log(`  (suspend comparison not run: this kernel offers '${offered.join(' ')}')`);
    return;
  }
  for (const mode of ['ram', 'disk', 'hybrid']) {
    const ours = await ctx.p.request(`guest-suspend-${mode}`);
    assert.equal(ours.error.class, 'GenericError');
    assert.match(ours.error.desc, /^the requested suspend mode is not supported by the guest: \/sys\/power\/state offers no sleep state, .* needs '(mem|disk)'$/);
    ctx.q.write(JSON.stringify({ execute: `guest-suspend-${mode}` }));
    ctx.q.write(JSON.stringify({ execute: 'guest-sync', arguments: { id: 42 } }));
    const first = await ctx.q.next(5000);
    if (mode === 'hybrid') {
      assert.equal(first, { error: { class: 'GenericError', desc: 'unknown guest suspend mode' } });
      assert.equal(await ctx.q.next(), { return: 42 });
    } else {
      assert.equal(first, { return: 42 }, 'qemu-ga sent no reply: it took the failed systemctl for a suspend');
    }
  }
});

S.run();

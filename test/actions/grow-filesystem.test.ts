// phoenix-grow-filesystem through a real agent on real disks: sparse images on loop devices,
// GPT and MBR, a mounted xfs, btrfs and ext4 grown after the image file was enlarged (as a host's
// block_resize), checked with statfs while mounted and with the data still there; growpart and,
// with growpart hidden, sfdisk; and each refusal leaves the disk as it was.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { hasSysResource } from '../../agent/grow/fs-resize';
import { createHost } from '../../agent/os/host';
import { Agent, AgentOptions, startAgent } from '../helpers/agent';
import { DiskSpec, LoopDisk, loopDisk } from '../helpers/loop-disk';
import { QgaClient } from '../helpers/qga-client';

const have = (tool: string): boolean => ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => fs.existsSync(path.join(d, tool)));
const statfsBytes = (p: string): number => { const s = fs.statfsSync(p); return s.blocks * s.bsize; };
const table = (loop: string): string => execFileSync('sfdisk', ['-d', loop], { encoding: 'utf8' });
const sectors = (loop: string): number => Number(fs.readFileSync(`/sys/class/block/${path.basename(loop)}/size`, 'utf8'));

async function withAgent<T>(f: (c: QgaClient, a: Agent) => Promise<T>, o: AgentOptions = {}): Promise<T> {
  const agent = startAgent({ interval: 0.5, hangTimeout: 30, ...o });
  try {
    await agent.waitReady(10_000);
    const c = await QgaClient.connect(agent.sock);
    try { return await f(c, agent); } finally { c.close(); }
  } finally { await agent.stop(); }
}

async function withDisk<T>(spec: DiskSpec, f: (d: LoopDisk) => Promise<T>): Promise<T> {
  const d = loopDisk(spec);
  try { return await f(d); } finally { d.cleanup(); }
}

const grow = (c: QgaClient, mountpoint: string, extra: Record<string, unknown> = {}) => c.request('phoenix-grow-filesystem', { mountpoint, ...extra }, 120_000);

/** Writes a file of random bytes on D's mount; returns its digest. */
function someData(d: LoopDisk): string {
  const data = crypto.randomBytes(1 << 20);
  fs.writeFileSync(path.join(d.mnt, 'data.bin'), data);
  execFileSync('sync', ['-f', d.mnt]);
  return crypto.createHash('sha256').update(data).digest('hex');
}
const digest = (d: LoopDisk): string => crypto.createHash('sha256').update(fs.readFileSync(path.join(d.mnt, 'data.bin'))).digest('hex');

/** Grows a mounted FS on a LABEL disk from FROM to TO MiB and checks everything the reply says. */
async function growsFor(label: 'gpt' | 'dos', fsType: 'xfs' | 'btrfs' | 'ext4', from: number, to: number, o: AgentOptions = {}, tool = /^growpart /): Promise<void> {
  await withDisk({ label, mib: from, parts: [`,${from - 16}M`], fs: fsType }, async (d) => {
    const sum = someData(d);
    const fsBefore = statfsBytes(d.mnt);
    d.grow(to);
    await withAgent(async (c) => {
      const key = `grow-${crypto.randomBytes(4).toString('hex')}`;
      const r = await grow(c, d.mnt, { 'idempotency-key': key });
      assert.ok(r.return, JSON.stringify(r));
      const g = r.return;
      assert.is(g.result, 'grown', JSON.stringify(g));
      assert.equal([g.mountpoint, g.type, g.device, g.disk, g.partition, g.table], [d.mnt, fsType, d.part(1), d.loop, 1, label]);
      assert.equal(g.steps.map((s: { step: string }) => s.step), ['rescan', 'partition', 'filesystem']);
      assert.equal(g.steps.map((s: { done: boolean }) => s.done), [true, true, true], JSON.stringify(g.steps));
      assert.match(g.steps[0].desc, new RegExp(`^losetup -c ${d.loop}: ${from << 20} -> ${to << 20} bytes$`));
      assert.match(g.steps[1].desc, tool);
      // The sizes said are the kernel's and statfs's.
      assert.is(g.before.disk_bytes, from << 20);
      assert.is(g.after.disk_bytes, to << 20);
      assert.is(g.before.partition_bytes, (from - 16) << 20);
      assert.is(g.after.partition_bytes, sectors(d.part(1)) * 512);
      assert.is(g.before.filesystem_bytes, fsBefore);
      assert.is(g.after.filesystem_bytes, statfsBytes(d.mnt));
      // The partition reaches the disk's end (less the backup GPT), and the file system most of it.
      const end = label === 'gpt' ? sectors(d.loop) - 34 : sectors(d.loop) - 1;
      assert.ok(2048 + sectors(d.part(1)) - 1 >= end - 2048, `partition ends near the disk's end: ${table(d.loop)}`);
      assert.ok(statfsBytes(d.mnt) > fsBefore + ((to - from) << 20) * 0.8, `statfs grew from ${fsBefore} to ${statfsBytes(d.mnt)}`);
      if (label === 'gpt') {
        // The backup GPT was moved to the new end: sfdisk finds nothing to complain about.
        const v = execFileSync('sfdisk', ['--verify', d.loop], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        assert.not.match(v, /backup|mismatch/i, v);
        assert.match(table(d.loop), new RegExp(`last-lba: ${sectors(d.loop) - 34}\\n`));
      }
      assert.is(digest(d), sum, 'the data is intact');
      // The same key: the recorded outcome. A new call: nothing left to grow.
      assert.equal(await grow(c, d.mnt, { 'idempotency-key': key }), r);
      const again = (await grow(c, d.mnt)).return;
      assert.is(again.result, 'nothing to grow', JSON.stringify(again));
      assert.equal(again.steps.map((s: { done: boolean }) => s.done), [false, false, false]);
      assert.match(again.steps[1].desc, /already reaches the end/);
      assert.equal(again.before, again.after);
    }, o);
  });
}

const G = suite('phoenix-grow-filesystem');

G('GPT, xfs (growpart): disk, partition and file system grown while mounted; again: nothing to grow', async () => {
  await growsFor('gpt', 'xfs', 400, 1024);
});

G('MBR, xfs (growpart)', async () => {
  await growsFor('dos', 'xfs', 400, 900);
});

G('GPT and MBR, btrfs, with growpart hidden: sfdisk grows the partition (and moves the backup GPT)', async () => {
  if (!have('mkfs.btrfs')) { console.log('  (mkfs.btrfs not installed: btrfs not tested)'); return; }
  const hide = ['/usr/bin/growpart', '/usr/sbin/growpart'].filter((p) => fs.existsSync(p));
  const wrap = ['unshare', '-m', '--propagation', 'private', '--', 'sh', '-c', `${hide.map((p) => `mount --bind /dev/null ${p}`).join(' && ')} && exec "$@"`, 'sh'];
  await growsFor('gpt', 'btrfs', 256, 640, { wrap }, /^sfdisk -N 1 \/dev\/loop\d+: grown to the end of the disk \(backup GPT moved to the end first\)/);
  await growsFor('dos', 'btrfs', 256, 512, { wrap }, /^sfdisk -N 1 \/dev\/loop\d+: grown to the end of the disk;/);
});

G('ext4: grown where the agent has CAP_SYS_RESOURCE; refused before any change where it has not', async () => {
  const capable = hasSysResource(createHost('/'));
  if (capable) { await growsFor('gpt', 'ext4', 128, 512); return; }
  // This machine's bounding set lacks it (a container): ext4's resize ioctl would fail with EPERM.
  await withDisk({ label: 'gpt', mib: 128, parts: [',112M'], fs: 'ext4' }, async (d) => {
    d.grow(512);
    const t = table(d.loop);
    await withAgent(async (c) => {
      const r = await grow(c, d.mnt);
      assert.match(r.error?.desc ?? '', /^growing ext4 online needs the capability CAP_SYS_RESOURCE, which this agent does not have/, JSON.stringify(r));
      assert.is(table(d.loop), t, 'the partition table is unchanged');
      assert.is(sectors(d.part(1)), 112 * 2048);
    });
  });
});

G('a file system on a whole disk (no partition table): rescanned and grown, no partition step', async () => {
  await withDisk({ label: 'none', mib: 320, parts: [], fs: 'xfs' }, async (d) => {
    const sum = someData(d);
    const fsBefore = statfsBytes(d.mnt);
    d.grow(768);
    await withAgent(async (c) => {
      const g = (await grow(c, d.mnt)).return;
      assert.ok(g, 'a reply');
      assert.equal([g.device, g.disk, g.partition, g.table, g.result], [d.loop, d.loop, null, null, 'grown']);
      assert.equal(g.steps.map((s: { step: string; done: boolean }) => `${s.step} ${s.done}`), ['rescan true', 'filesystem true']);
      assert.equal([g.before.disk_bytes, g.after.disk_bytes, g.before.partition_bytes, g.after.partition_bytes], [320 << 20, 768 << 20, null, null]);
      assert.is(g.after.filesystem_bytes, statfsBytes(d.mnt));
      assert.ok(statfsBytes(d.mnt) > fsBefore + (400 << 20), `statfs grew from ${fsBefore} to ${statfsBytes(d.mnt)}`);
      assert.is(digest(d), sum);
      assert.is((await grow(c, d.mnt)).return.result, 'nothing to grow');
    });
  });
});

G.run();

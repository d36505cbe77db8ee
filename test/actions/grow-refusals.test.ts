// What phoenix-grow-filesystem refuses, through a real agent, each caused for real: a partition
// that is not last (with room it could take), a logical MBR partition, a tmpfs, a path that is
// no mount point or no absolute path, a read-only mount, tools that are missing; each refusal names the value and leaves the disk as it was.
// And a disk that was not enlarged: success with nothing to grow.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { startAgent, tempDir } from '../helpers/agent';
import { DiskSpec, LoopDisk, loopDisk } from '../helpers/loop-disk';
import { QgaClient } from '../helpers/qga-client';
import { tinyFs } from '../helpers/tiny-fs';

const table = (loop: string): string => execFileSync('sfdisk', ['-d', loop], { encoding: 'utf8' });
const sectors = (dev: string): number => Number(fs.readFileSync(`/sys/class/block/${path.basename(dev)}/size`, 'utf8'));

const R = suite('phoenix-grow-filesystem refusals');
let agent: ReturnType<typeof startAgent>;
let c: QgaClient;
R.before(async () => {
  agent = startAgent({ interval: 0.5, hangTimeout: 30 });
  await agent.waitReady(10_000);
  c = await QgaClient.connect(agent.sock);
});
R.after(async () => { c.close(); await agent.stop(); });

const grow = (mountpoint: unknown) => c.request('phoenix-grow-filesystem', { mountpoint }, 120_000);

async function withDisk(spec: DiskSpec, f: (d: LoopDisk) => Promise<void>): Promise<void> {
  const d = loopDisk(spec);
  try { await f(d); } finally { d.cleanup(); }
}

/** The call fails with DESC and the disk's table and the partition's size are unchanged. */
async function refusedUnchanged(d: LoopDisk, n: number, desc: RegExp): Promise<void> {
  const t = table(d.loop);
  const size = sectors(d.part(n));
  const r = await grow(d.mnt);
  assert.is(r.error?.class, 'GenericError', JSON.stringify(r));
  assert.match(r.error.desc, desc);
  assert.is(table(d.loop), t, 'the partition table is unchanged');
  assert.is(sectors(d.part(n)), size, 'the kernel\'s partition is unchanged');
  assert.equal((await c.request('guest-ping')).return, {}, 'the agent keeps serving');
}

R('a partition that is not the last on its disk, with free room after it: refused, nothing changed', async () => {
  // Partition 1 (xfs, mounted) with 380 MiB free after it, then partition 2 near the end.
  await withDisk({ label: 'gpt', mib: 800, parts: [',320M', 'start=1433600,size=32M'], fs: 'xfs' }, async (d) => {
    d.grow(1024);
    await refusedUnchanged(d, 1, /^partition 1 is not the last on \/dev\/loop\d+: another partition starts at sector 1433600 after it/);
  });
});

R('a logical MBR partition: refused with the reason, nothing changed', async () => {
  await withDisk({ label: 'dos', mib: 400, parts: [',32M,83', ',,E', ',320M,L'], fs: 'xfs', mount: 5 }, async (d) => {
    d.grow(1024);
    await refusedUnchanged(d, 5, /^partition 5 of \/dev\/loop\d+ is a logical partition inside an extended one/);
  });
});

R('a file system mounted read-only: refused before the partition is touched', async () => {
  await withDisk({ label: 'gpt', mib: 400, parts: [',320M'], fs: 'xfs' }, async (d) => {
    execFileSync('mount', ['-o', 'remount,ro', d.mnt]);
    d.grow(1024);
    await refusedUnchanged(d, 1, new RegExp(`^'${d.mnt}' is mounted read-only: its xfs file system cannot be grown online \\(remount it read-write first\\); nothing was changed$`));
  });
});

R('a disk that was not enlarged: success, nothing to grow, nothing changed', async () => {
  await withDisk({ label: 'gpt', mib: 400, parts: [','], fs: 'xfs' }, async (d) => {
    const t = table(d.loop);
    const r = await grow(d.mnt);
    assert.ok(r.return, JSON.stringify(r));
    assert.is(r.return.result, 'nothing to grow');
    assert.equal(r.return.steps.map((s: { done: boolean }) => s.done), [false, false, false]);
    assert.match(r.return.steps[0].desc, /size unchanged/);
    assert.match(r.return.steps[1].desc, /^partition 1 already reaches the end of \/dev\/loop\d+ \(\d+ sectors of 512 bytes free after it\)$/, r.return.steps[1].desc);
    assert.equal(r.return.before, r.return.after);
    assert.is(table(d.loop), t);
  });
});

R('a tmpfs: refused, its type named', async () => {
  const t = tinyFs(64);
  try {
    const r = await grow(t.dir);
    assert.is(r.error?.desc, `'${t.dir}' is a tmpfs file system (source 'tmpfs'), not one on a block device: there is no disk to grow it from`);
  } finally { t.cleanup(); }
});

R('unknown mount points and malformed paths: refused, the value named', async () => {
  const dir = tempDir('notmounted-');
  assert.is((await grow(dir)).error?.desc, `Parameter 'mountpoint' names '${dir}', which is not a mount point (not in /proc/self/mountinfo)`);
  for (const bad of ['relative/dir', '/a/../b', '/a/', '/a//b', '']) {
    assert.is((await grow(bad)).error?.desc, `Parameter 'mountpoint' expects an absolute path without empty, . or .. components, got '${bad}'`, bad);
  }
  assert.match((await grow(7)).error?.desc, /Invalid parameter type for 'mountpoint', expected: string/);
});

R('tools missing (hidden in a private mount namespace): phoenix-capabilities says why, the command refuses before any change', async () => {
  const hide = ['growpart', 'sfdisk', 'resize2fs', 'xfs_growfs', 'btrfs'].flatMap((t) => ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].map((d) => `${d}/${t}`))
    .filter((p) => fs.existsSync(p) && !fs.lstatSync(p).isSymbolicLink());
  const script = (paths: string[]) => ['unshare', '-m', '--propagation', 'private', '--', 'sh', '-c', `${paths.map((p) => `mount --bind /dev/null ${p}`).join(' && ')} && exec "$@"`, 'sh'];
  await withDisk({ label: 'gpt', mib: 400, parts: [',384M'], fs: 'xfs' }, async (d) => {
    d.grow(512);
    for (const [hidden, reasons, refusal] of [
      [hide.filter((p) => /sfdisk/.test(p)), [/^sfdisk is not installed: partitions cannot be read or grown \(install cloud-guest-utils\)$/],
        /^sfdisk is not installed: the partition cannot be grown; install cloud-guest-utils/],
      [hide.filter((p) => /growpart|sfdisk/.test(p)), [/^neither growpart nor sfdisk is installed: partitions cannot be read or grown \(install cloud-guest-utils\)$/],
        /^neither growpart nor sfdisk is installed: the partition cannot be grown; install cloud-guest-utils/],
      [hide, [/^no file system resizer is installed: resize2fs \(e2fsprogs\), xfs_growfs \(xfsprogs\) or btrfs \(btrfs-progs\)/, /^neither growpart nor sfdisk/],
        /^xfs_growfs is not installed \(xfsprogs\): the xfs file system on '.*' cannot be grown$/],
    ] as Array<[string[], RegExp[], RegExp]>) {
      const a = startAgent({ interval: 0.5, hangTimeout: 30, wrap: script(hidden) });
      try {
        await a.waitReady(10_000);
        const q = await QgaClient.connect(a.sock);
        const cap = (await q.request('phoenix-capabilities')).return.commands.find((x: { name: string }) => x.name === 'phoenix-grow-filesystem');
        assert.is(cap.enabled, false);
        assert.equal(cap.reasons.map((r: { kind: string }) => r.kind), reasons.map(() => 'missing-tool'));
        reasons.forEach((re, i) => assert.match(cap.reasons[i].desc, re));
        const t = table(d.loop);
        const r = await q.request('phoenix-grow-filesystem', { mountpoint: d.mnt }, 60_000);
        assert.match(r.error?.desc ?? JSON.stringify(r), refusal);
        assert.is(table(d.loop), t, 'nothing changed');
        q.close();
      } finally { await a.stop(); }
    }
  });
});

R.run();

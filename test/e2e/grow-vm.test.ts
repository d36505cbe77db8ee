// phoenix-grow-filesystem in a real VM, after the host enlarged its disks the way a hypervisor
// does: QMP block_resize on running virtio-blk disks, which the guest kernel sees by itself. The
// agent is installed by its installer and driven by the panel's client (panel/agent-client.ts)
// through the real virtio-serial port. What a host test cannot do runs here with the guest's own
// kernel: ext4 grown online (the resize ioctl needs CAP_SYS_RESOURCE) and LVM (device-mapper).
// Debian's lvm2, xfsprogs, fdisk and cloud-guest-utils (growpart) are installed into the image.
// Every check is made inside the guest too: the kernel's sizes, df, the partition table, the data.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { AgentClient, AgentError } from '../../panel/agent-client';
import { ROOT, tempDir, waitFor } from '../helpers/agent';
import { installDebs, treeDebs } from './lib/guest-debs';
import { note, since } from './lib/host';
import { prepareRoot, Root } from './lib/nspawn';
import { ensureTree } from './lib/rootfs';
import { startVm, Vm } from './lib/vm';

const CLI = path.join(ROOT, 'dist/phoenix-ga');
const MiB = 1 << 20;
const PACKAGES = ['fdisk', 'cloud-guest-utils', 'xfsprogs', 'lvm2', 'e2fsprogs'];

/** The disks beside the root: QMP drive id, virtio serial (the guest's /dev/disk/by-id/virtio-<serial>), size. */
const DISKS = [
  { id: 'd1', serial: 'grow-ext4', mib: 64 },
  { id: 'd2', serial: 'grow-xfs', mib: 320 },
  { id: 'd3', serial: 'grow-lvm', mib: 64 },
] as const;

// The layouts, made by the guest's own tools: d1 GPT with a small ext4 partition before the
// last one (ext4); d2 MBR, one xfs partition (xfs needs 300 MB); d3 GPT, one partition as an LVM
// physical volume whose volume group 'vgdata' has its logical volume 'data' (ext4) on half of it.
// Each mounted file system gets 1 MiB of random data, its digest kept in /root/sums.
const SETUP = `set -e
dev() { basename "$(readlink -f /dev/disk/by-id/virtio-$1)"; }
E=$(dev grow-ext4); X=$(dev grow-xfs); L=$(dev grow-lvm)
printf 'label: gpt\\n,8M\\n,\\n' | sfdisk -q /dev/$E
printf 'label: dos\\n,,83\\n' | sfdisk -q /dev/$X
printf 'label: gpt\\n,,E6D6D379-F507-44C2-A23C-238F2A3DF928\\n' | sfdisk -q /dev/$L
udevadm settle --timeout=600
mkfs.ext4 -q /dev/\${E}1; mkfs.ext4 -q /dev/\${E}2; mkfs.xfs -q /dev/\${X}1
pvcreate -q /dev/\${L}1; vgcreate -q vgdata /dev/\${L}1; lvcreate -q -y -n data -l 50%VG vgdata
udevadm settle --timeout=600
mkfs.ext4 -q /dev/vgdata/data
mkdir -p /mnt/first /mnt/ext4 /mnt/xfs /mnt/lvm
mount /dev/\${E}1 /mnt/first; mount /dev/\${E}2 /mnt/ext4; mount /dev/\${X}1 /mnt/xfs; mount /dev/vgdata/data /mnt/lvm
for m in /mnt/ext4 /mnt/xfs /mnt/lvm; do head -c 1M /dev/urandom >$m/data.bin; done
sha256sum /mnt/ext4/data.bin /mnt/xfs/data.bin /mnt/lvm/data.bin >/root/sums
sync
echo $E $X $L`;

interface Sizes { disk_bytes: number | null; partition_bytes: number | null; filesystem_bytes: number | null }
interface Grown {
  mountpoint: string; type: string; device: string; disk: string; partition: number | null; table: string | null;
  before: Sizes; after: Sizes; steps: Array<{ step: string; done: boolean; desc: string }>; result: string;
}

interface Guest { vm: Vm; c: AgentClient; root: Root; dir: string; ext4: string; xfs: string; lvm: string }

async function sh(vm: Vm, script: string, timeoutMs = 120_000): Promise<string> {
  // The test shell's descriptors on its port would make every LVM tool warn that they leaked.
  const r = await vm.shell(`export LVM_SUPPRESS_FD_WARNINGS=1\n${script}`, timeoutMs);
  if (r.code !== 0) throw new Error(`guest: ${script.slice(0, 300)}: exit ${r.code}: ${r.out}`);
  return r.out;
}

/** One number the guest prints (a size in bytes or sectors). */
async function num(vm: Vm, script: string): Promise<number> {
  const out = (await sh(vm, script)).trim();
  if (!/^\d+$/.test(out)) throw new Error(`guest: ${script}: not a number: ${JSON.stringify(out)}`);
  return Number(out);
}
const sectors = (vm: Vm, dev: string) => num(vm, `cat /sys/class/block/${dev}/size`);
/** statfs total bytes of a mounted file system, as df counts them. */
const dfBytes = (vm: Vm, mnt: string) => num(vm, `df -B1 --output=size ${mnt} | tail -1`);

async function boot(): Promise<Guest> {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const t0 = Date.now();
  const tree = await ensureTree('vm');
  const debs = await treeDebs(tree, 'grow', PACKAGES);
  const root = await prepareRoot(tree, 'grow-vm');
  const dir = tempDir('pga-grow-vm-');
  let vm: Vm | null = null;
  try {
    await installDebs(root.merged, debs);
    const r = spawnSync(CLI, ['install', '--root', root.merged], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stdout + r.stderr);
    // Sparse images the test owns: QEMU enlarges them (block_resize) while the guest runs.
    // High PCI slots: the kernel probes the root disk (vm.ts's -drive if=virtio) first, so it stays vda.
    const extra = DISKS.flatMap((d, i) => {
      const img = path.join(dir, `${d.serial}.img`);
      fs.writeFileSync(img, '');
      fs.truncateSync(img, d.mib * MiB);
      return ['-drive', `file=${img},if=none,id=${d.id},format=raw`, '-device', `virtio-blk-pci,drive=${d.id},id=v${d.id},serial=${d.serial},addr=0x${(0x10 + i).toString(16)}`];
    });
    // Boots take 25-35 s on idle cores, over 3 min when the host is loaded (TCG).
    vm = await startVm({ tree: root.merged, extraArgs: extra, bootTimeoutMs: 420_000 });
    const t1 = Date.now();
    const [ext4, xfs, lvm] = (await sh(vm, SETUP, 900_000)).trim().split('\n').pop()!.split(' ');
    note(`grow vm: disks partitioned, formatted and mounted in ${since(t1)}`);
    const c = await waitFor('the agent answers on the virtio-serial port', async () => {
      const cl = new AgentClient({ path: vm!.agentSock, attempts: 1 });
      try { await cl.call('guest-ping', undefined, { timeoutMs: 3000 }); return cl; } catch { cl.close(); return null; }
    }, 180_000, 250);
    note(`grow vm: ready ${since(t0)} after start`);
    return { vm, c, root, dir, ext4, xfs, lvm };
  } catch (e) {
    await vm?.stop();
    await root.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

let guest: Promise<Guest> | null = null;

/** Runs a test on the one VM (booted by the first test); on failure the agent's journal and the console are printed. */
async function onGuest(f: (g: Guest) => Promise<void>): Promise<void> {
  const g = await (guest ??= boot());
  try {
    await f(g);
  } catch (e) {
    const j = await g.vm.shell('journalctl -b --no-pager -u phoenix-ga | tail -30; dmesg | tail -20', 20_000).catch(() => ({ out: '(no shell)' }));
    console.error(`--- guest journal (phoenix-ga) and dmesg ---\n${j.out}\n--- console ---\n${g.vm.console().slice(-3000)}`);
    throw e;
  }
}

const grow = (g: Guest, mountpoint: string) => g.c.call('phoenix-grow-filesystem', { mountpoint }, { mutating: true, timeoutMs: 300_000 }) as Promise<Grown>;

/** The refusal of growing MOUNTPOINT: its description. */
async function refusal(g: Guest, mountpoint: string): Promise<string> {
  const e = await grow(g, mountpoint).then((r) => new Error(`not refused: ${JSON.stringify(r)}`), (x: unknown) => x);
  assert.instance(e, AgentError, String(e));
  assert.is((e as AgentError).cls, 'GenericError');
  return (e as AgentError).desc;
}

const resize = (g: Guest, id: string, mib: number) => g.vm.monitor('block_resize', { device: id, size: mib * MiB });
const stepsOf = (r: Grown) => r.steps.map((s) => `${s.step} ${s.done}`);

/** Grows a partition's file system after block_resize; everything the reply says is checked in the guest. */
async function growsPartition(g: Guest, o: { id: string; disk: string; n: number; mnt: string; type: string; table: string; to: number; tool: RegExp; resizer: string }): Promise<Grown> {
  const part = `${o.disk}${o.n}`;
  const partBefore = await sectors(g.vm, part);
  const fsBefore = await dfBytes(g.vm, o.mnt);
  await resize(g, o.id, o.to);
  const r = await grow(g, o.mnt);
  assert.is(r.result, 'grown', JSON.stringify(r));
  assert.equal([r.mountpoint, r.type, r.device, r.disk, r.partition, r.table], [o.mnt, o.type, `/dev/${part}`, `/dev/${o.disk}`, o.n, o.table]);
  assert.equal(stepsOf(r), ['rescan false', 'partition true', 'filesystem true'], JSON.stringify(r.steps));
  // virtio-blk: the guest kernel had the new size before the agent looked.
  assert.is(r.steps[0].desc, `/dev/${o.disk} updates its size itself when the host resizes it (virtio-blk, NVMe, Xen): ${o.to * MiB} bytes`);
  assert.match(r.steps[1].desc, o.tool);
  assert.match(r.steps[2].desc, new RegExp(`^${o.resizer}: grown from ${fsBefore} to ${r.after.filesystem_bytes} bytes$`));
  assert.equal([r.before.disk_bytes, r.after.disk_bytes], [o.to * MiB, o.to * MiB]);
  assert.is(await num(g.vm, `blockdev --getsize64 /dev/${o.disk}`), o.to * MiB);
  assert.is(r.before.partition_bytes, partBefore * 512);
  assert.is(r.after.partition_bytes, (await sectors(g.vm, part)) * 512);
  assert.is(r.before.filesystem_bytes, fsBefore);
  assert.is(r.after.filesystem_bytes, await dfBytes(g.vm, o.mnt), 'df in the guest agrees');
  // The partition now ends within alignment of the disk's end (less the backup GPT), the file system fills most of it.
  const start = await num(g.vm, `cat /sys/class/block/${part}/start`);
  const end = o.to * 2048 - (o.table === 'gpt' ? 34 : 0);
  assert.ok(start + (await sectors(g.vm, part)) > end - 2048, `partition ${part} ends near the disk's end: ${await sh(g.vm, `sfdisk -d /dev/${o.disk}`)}`);
  assert.ok(r.after.filesystem_bytes! - fsBefore > 0.8 * (r.after.partition_bytes! - partBefore * 512), `file system grew from ${fsBefore} to ${r.after.filesystem_bytes}`);
  return r;
}

/** The data written at setup is intact, and the room gained is usable: a file larger than the old file system fits. */
async function dataIntact(g: Guest, mnt: string, bigMib: number): Promise<void> {
  assert.match(await sh(g.vm, `grep ' ${mnt}/' /root/sums | sha256sum -c`), new RegExp(`^${mnt}/data.bin: OK$`, 'm'));
  await sh(g.vm, `fallocate -l ${bigMib}M ${mnt}/big && sync -f ${mnt} && rm ${mnt}/big`);
}

const S = suite('phoenix-grow-filesystem in a QEMU VM, disks enlarged by QMP block_resize');

S.after(async () => {
  const g = await guest?.catch(() => null);
  if (!g) return;
  g.c.close();
  await g.vm.stop();
  await g.root.cleanup();
  fs.rmSync(g.dir, { recursive: true, force: true });
});

S('GPT, ext4 on the last partition, mounted: growpart, resize2fs online; again: nothing to grow', () => onGuest(async (g) => {
  const t0 = Date.now();
  await growsPartition(g, { id: 'd1', disk: g.ext4, n: 2, mnt: '/mnt/ext4', type: 'ext4', table: 'gpt', to: 192, tool: new RegExp(`^growpart /dev/${g.ext4} 2: CHANGED: partition=2 `), resizer: `resize2fs /dev/${g.ext4}2` });
  note(`grow vm: ext4 grown in ${since(t0)}`);
  // growpart moved the backup GPT to the new end: sfdisk has nothing to complain about.
  const v = await sh(g.vm, `sfdisk --verify /dev/${g.ext4} 2>&1`);
  assert.not.match(v, /backup|mismatch|not at the end/i, v);
  await dataIntact(g, '/mnt/ext4', 100);
  const again = await grow(g, '/mnt/ext4');
  assert.is(again.result, 'nothing to grow', JSON.stringify(again));
  assert.equal(stepsOf(again), ['rescan false', 'partition false', 'filesystem false']);
  assert.equal(again.before, again.after);
}));

S('a partition that is not the last on its disk: refused with the reason, nothing changed', () => onGuest(async (g) => {
  const table = await sh(g.vm, `sfdisk -d /dev/${g.ext4}`);
  const size = await sectors(g.vm, `${g.ext4}1`);
  const start2 = await num(g.vm, `cat /sys/class/block/${g.ext4}2/start`);
  const desc = await refusal(g, '/mnt/first');
  assert.is(desc, `partition 1 is not the last on /dev/${g.ext4}: another partition starts at sector ${start2} after it (growing it would mean moving that one)`);
  assert.is(await sh(g.vm, `sfdisk -d /dev/${g.ext4}`), table, 'the partition table is unchanged');
  assert.is(await sectors(g.vm, `${g.ext4}1`), size);
  assert.equal(await g.c.call('guest-ping'), {}, 'the agent keeps serving');
}));

S('MBR, xfs, mounted, growpart not installed: sfdisk, partx, xfs_growfs', () => onGuest(async (g) => {
  // growpart hidden for this case: the agent falls back to sfdisk itself.
  await sh(g.vm, 'mount --bind /dev/null "$(command -v growpart)"');
  try {
    await growsPartition(g, { id: 'd2', disk: g.xfs, n: 1, mnt: '/mnt/xfs', type: 'xfs', table: 'dos', to: 512, tool: new RegExp(`^sfdisk -N 1 /dev/${g.xfs}: grown to the end of the disk; the kernel now has \\d+ sectors`), resizer: 'xfs_growfs /mnt/xfs' });
  } finally {
    await sh(g.vm, 'umount "$(command -v growpart)"');
  }
  await dataIntact(g, '/mnt/xfs', 400);
  assert.is((await grow(g, '/mnt/xfs')).result, 'nothing to grow');
}));

S('LVM: the logical volume takes its group\'s free extents (lvextend -r, ext4 online); with none left it is refused, the physical volume untouched', () => onGuest(async (g) => {
  const lvBytes = () => num(g.vm, 'blockdev --getsize64 /dev/vgdata/data');
  const vgFree = () => num(g.vm, 'vgs --noheadings --nosuffix --units b -o vg_free vgdata');
  const [lvBefore, freeBefore, fsBefore] = [await lvBytes(), await vgFree(), await dfBytes(g.vm, '/mnt/lvm')];
  assert.ok(freeBefore > 16 * MiB, `free extents in vgdata: ${freeBefore}`);
  const dm = (await sh(g.vm, 'basename "$(readlink -f /dev/vgdata/data)"')).trim();
  const r = await grow(g, '/mnt/lvm');
  assert.is(r.result, 'grown', JSON.stringify(r));
  assert.equal([r.mountpoint, r.type, r.device, r.disk, r.partition, r.table], ['/mnt/lvm', 'ext4', `/dev/${dm}`, `/dev/${dm}`, null, null]);
  assert.equal(stepsOf(r), ['logical-volume true'], JSON.stringify(r.steps));
  assert.is(r.steps[0].desc, `lvextend -r -l +100%FREE vgdata/data: ${freeBefore} free bytes of 'vgdata' added, the file system grown with it`);
  assert.equal([r.before.disk_bytes, r.after.disk_bytes], [lvBefore, lvBefore + freeBefore]);
  assert.is(await lvBytes(), lvBefore + freeBefore);
  assert.is(await vgFree(), 0);
  assert.equal([r.before.partition_bytes, r.after.partition_bytes], [null, null]);
  assert.is(r.before.filesystem_bytes, fsBefore);
  assert.is(r.after.filesystem_bytes, await dfBytes(g.vm, '/mnt/lvm'), 'df in the guest agrees');
  assert.ok(r.after.filesystem_bytes! - fsBefore > 0.8 * freeBefore, `file system grew from ${fsBefore} to ${r.after.filesystem_bytes}`);
  await dataIntact(g, '/mnt/lvm', Math.ceil(lvBefore / MiB));

  // The disk under the physical volume enlarged: growing the PV is not done, and said so.
  await resize(g, 'd3', 128);
  await waitFor('the guest sees the new size', async () => (await sectors(g.vm, g.lvm)) === 128 * 2048, 30_000, 200);
  // sfdisk -d now also warns that the backup GPT is not at the disk's end: the refusal must leave it so.
  const table = await sh(g.vm, `sfdisk -d /dev/${g.lvm}`);
  const pv = await num(g.vm, `pvs --noheadings --nosuffix --units b -o pv_size /dev/${g.lvm}1`);
  const desc = await refusal(g, '/mnt/lvm');
  assert.is(desc, '\'vgdata/data\' is an LVM logical volume whose volume group \'vgdata\' has no free extents: growing the physical volume under it (its partition, then pvresize) is not done by this command');
  assert.is(await sh(g.vm, `sfdisk -d /dev/${g.lvm}`), table, 'the partition table is unchanged');
  assert.is(await num(g.vm, `pvs --noheadings --nosuffix --units b -o pv_size /dev/${g.lvm}1`), pv, 'the physical volume is unchanged');
  assert.is(await lvBytes(), lvBefore + freeBefore);
  assert.match(await sh(g.vm, 'sha256sum -c /root/sums'), /\/mnt\/lvm\/data\.bin: OK/);
}));

S.run();

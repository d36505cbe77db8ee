// Disk addresses (guest-get-fsinfo's disks, guest-get-disks) worked out from sysfs as qemu-ga 7.2
// does, on temporary trees that copy the layouts of real guests: virtio-blk, virtio-scsi, AHCI,
// IDE (ata_piix), NVMe, a PCI bridge, device mapper over a partition, a loop device, a platform
// device. Not real: the trees are plain directories and links, not sysfs; the same code reads
// this machine's /sys in test/compat/hotplug-vs-qemu-ga.test.ts. Also the mount rule (major 0).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { guestDisks } from '../../../agent/facts/block-devices';
import { disksBehind } from '../../../agent/facts/disk-address';
import { localMountinfo, localMounts, parseMountinfo } from '../../../agent/facts/disks';
import { createHost } from '../../../agent/os/host';
import { tempDir } from '../../helpers/agent';

interface Dev { sys: string; name: string; major: number; minor: number; size?: string; driverAt?: string[]; driver?: string; partition?: boolean }

/** A sysfs-shaped tree: each device directory with uevent and size, /sys/block and /sys/dev/block links, drivers. */
function sysTree(devs: Dev[]): { root: string; add(p: string, text: string): void; link(p: string, to: string): void } {
  const root = tempDir('sysfs-');
  const add = (p: string, text: string) => { fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true }); fs.writeFileSync(path.join(root, p), text); };
  const link = (p: string, to: string) => { fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true }); fs.symlinkSync(to, path.join(root, p)); };
  for (const d of devs) {
    add(`${d.sys}/uevent`, `MAJOR=${d.major}\nMINOR=${d.minor}\nDEVNAME=${d.name}\nDEVTYPE=disk\n`);
    add(`${d.sys}/size`, d.size ?? '2097152\n');
    link(`/sys/dev/block/${d.major}:${d.minor}`, path.relative(path.join(root, '/sys/dev/block'), path.join(root, d.sys)));
    // Partitions are in /sys/class/block only, not in /sys/block.
    if (d.partition) add(`${d.sys}/partition`, '1\n'); else link(`/sys/block/${d.name}`, path.relative(path.join(root, '/sys/block'), path.join(root, d.sys)));
    for (const at of d.driverAt ?? []) link(`${at}/driver`, `../../../bus/pci/drivers/${d.driver}`);
  }
  return { root, add, link };
}

const PCI = '/sys/devices/pci0000:00';

test('virtio-blk: bus-type virtio and the PCI slot; a partition has its own dev; serial from sysfs where udev has none', () => {
  const t = sysTree([
    { sys: `${PCI}/0000:00:02.0/virtio1/block/vda`, name: 'vda', major: 254, minor: 0, driverAt: [`${PCI}/0000:00:02.0`], driver: 'virtio-pci' },
    { sys: `${PCI}/0000:00:02.0/virtio1/block/vda/vda1`, name: 'vda1', major: 254, minor: 1, partition: true },
  ]);
  t.add(`${PCI}/0000:00:02.0/virtio1/block/vda/serial`, 'SER-1\n');
  const host = createHost(t.root);
  const whole = { 'pci-controller': { domain: 0, bus: 0, slot: 2, function: 0 }, 'bus-type': 'virtio', bus: 0, target: 0, unit: 0, dev: '/dev/vda', serial: 'SER-1' };
  assert.equal(disksBehind(host, '/sys/dev/block/254:0'), { name: 'vda', disks: [whole] });
  assert.equal(disksBehind(host, '/sys/dev/block/254:1'), { name: 'vda1', disks: [{ ...whole, dev: '/dev/vda1' }] });
  // udev's ID_SERIAL wins where udevd runs.
  t.add('/run/udev/data/b254:0', 'S:disk/by-id/virtio-SER-1\nE:ID_SERIAL=udev-serial\n');
  assert.is(disksBehind(host, '/sys/dev/block/254:0').disks[0].serial, 'udev-serial');
});

test('a disk\'s address is kept between calls, but udev\'s record replaced (renamed over, as udevd writes it) shows at once', () => {
  const t = sysTree([{ sys: `${PCI}/0000:00:02.0/virtio1/block/vda`, name: 'vda', major: 254, minor: 0, driverAt: [`${PCI}/0000:00:02.0`], driver: 'virtio-pci' }]);
  const host = createHost(t.root);
  const serial = () => disksBehind(host, '/sys/dev/block/254:0').disks[0].serial;
  assert.is(serial(), undefined);
  const udev = (text: string) => {
    t.add('/run/udev/data/.b254:0.new', text);
    fs.renameSync(path.join(t.root, '/run/udev/data/.b254:0.new'), path.join(t.root, '/run/udev/data/b254:0'));
  };
  udev('E:ID_SERIAL=serial-one\n');
  assert.is(serial(), 'serial-one');
  assert.is(serial(), 'serial-one');
  udev('E:ID_SERIAL=serial-two\n');
  assert.is(serial(), 'serial-two');
  fs.rmSync(path.join(t.root, '/run/udev/data/b254:0'));
  assert.is(serial(), undefined);
});

test('virtio-scsi, AHCI, IDE, NVMe and a PCI bridge, as qemu-ga numbers them', () => {
  const t = sysTree([
    { sys: `${PCI}/0000:00:05.0/virtio2/host2/target2:0:0/2:0:0:3/block/sda`, name: 'sda', major: 8, minor: 0, driverAt: [`${PCI}/0000:00:05.0`], driver: 'virtio-pci' },
    { sys: `${PCI}/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0/block/sdb`, name: 'sdb', major: 8, minor: 16, driverAt: [`${PCI}/0000:00:1f.2`], driver: 'ahci' },
    { sys: `${PCI}/0000:00:01.1/ata1/host0/target0:0:1/0:0:1:0/block/sdc`, name: 'sdc', major: 8, minor: 32, driverAt: [`${PCI}/0000:00:01.1`], driver: 'ata_piix' },
    { sys: `${PCI}/0000:00:04.0/nvme/nvme0/nvme0n1`, name: 'nvme0n1', major: 259, minor: 0, driverAt: [`${PCI}/0000:00:04.0`], driver: 'nvme' },
    { sys: `${PCI}/0000:00:1c.0/0000:01:00.0/virtio3/block/vdb`, name: 'vdb', major: 254, minor: 16, driverAt: [`${PCI}/0000:00:1c.0/0000:01:00.0`], driver: 'virtio-pci' },
  ]);
  for (const a of ['ata1', 'ata2', 'ata3']) fs.mkdirSync(path.join(t.root, `${PCI}/0000:00:1f.2/${a}`), { recursive: true });
  fs.mkdirSync(path.join(t.root, `${PCI}/0000:00:01.1/ata2`), { recursive: true });
  t.link(`${PCI}/0000:00:1c.0/driver`, '../../../bus/pci/drivers/pcieport');
  t.add(`${PCI}/0000:00:04.0/nvme/nvme0/nvme0n1/device/serial`, 'NVME-7   \n');
  const host = createHost(t.root);
  const at = (mm: string) => { const d = disksBehind(host, `/sys/dev/block/${mm}`).disks[0]; return { pci: Object.values(d['pci-controller']), bus: d['bus-type'], b: d.bus, t: d.target, u: d.unit, serial: d.serial }; };
  assert.equal(at('8:0'), { pci: [0, 0, 5, 0], bus: 'scsi', b: 0, t: 0, u: 3, serial: undefined });
  assert.equal(at('8:16'), { pci: [0, 0, 0x1f, 2], bus: 'sata', b: 0, t: 0, u: 1, serial: undefined });
  assert.equal(at('8:32'), { pci: [0, 0, 1, 1], bus: 'ide', b: 0, t: 0, u: 1, serial: undefined });
  assert.equal(at('259:0'), { pci: [0, 0, 4, 0], bus: 'nvme', b: 0, t: 0, u: 0, serial: 'NVME-7' });
  assert.equal(at('254:16'), { pci: [0, 1, 0, 0], bus: 'virtio', b: 0, t: 0, u: 0, serial: undefined });
});

test('virtual devices: device mapper stands for its slaves, a loop device for nothing ("disk": []); a platform disk is "unknown" with PCI -1', () => {
  const t = sysTree([
    { sys: `${PCI}/0000:00:02.0/virtio1/block/vda`, name: 'vda', major: 254, minor: 0, driverAt: [`${PCI}/0000:00:02.0`], driver: 'virtio-pci' },
    { sys: `${PCI}/0000:00:02.0/virtio1/block/vda/vda2`, name: 'vda2', major: 254, minor: 2, partition: true },
    { sys: '/sys/devices/virtual/block/dm-0', name: 'dm-0', major: 253, minor: 0 },
    { sys: '/sys/devices/virtual/block/loop0', name: 'loop0', major: 7, minor: 0 },
    { sys: '/sys/devices/platform/mmc0/block/xda', name: 'xda', major: 179, minor: 0 },
  ]);
  t.link('/sys/devices/virtual/block/dm-0/slaves/vda2', `../../../../pci0000:00/0000:00:02.0/virtio1/block/vda/vda2`);
  t.add('/sys/devices/virtual/block/dm-0/dm/name', 'vg-root\n');
  fs.mkdirSync(path.join(t.root, '/sys/devices/virtual/block/loop0/slaves'), { recursive: true });
  const host = createHost(t.root);
  const dm = disksBehind(host, '/sys/dev/block/253:0');
  assert.is(dm.name, 'dm-0');
  assert.equal(dm.disks.map((d) => [d.dev, d['bus-type']]), [['/dev/vda2', 'virtio']]);
  assert.equal(disksBehind(host, '/sys/dev/block/7:0'), { name: 'loop0', disks: [] });
  assert.equal(disksBehind(host, '/sys/dev/block/179:0').disks, [{ 'pci-controller': { domain: -1, bus: -1, slot: -1, function: -1 }, 'bus-type': 'unknown', bus: 0, target: 0, unit: 0, dev: '/dev/xda' }]);
  // Not in this sysfs (a container): the name only.
  assert.equal(disksBehind(host, '/sys/dev/block/8:99'), { name: '8:99', disks: [] });

  const disks = guestDisks(host);
  const by = Object.fromEntries(disks.map((d) => [d.name, d]));
  assert.equal(by['/dev/dm-0'], { name: '/dev/dm-0', partition: false, alias: 'vg-root', dependencies: ['/dev/vda2'] });
  assert.equal(by['/dev/vda2'], { name: '/dev/vda2', partition: true, dependencies: ['/dev/vda'] });
  assert.is(by['/dev/vda'].address!['bus-type'], 'virtio');
  assert.is(by['/dev/loop0'].address, undefined, 'no address for a virtual device');
  assert.is(disks[0].name, '/dev/xda', 'qemu-ga order: the last found first');
});

test('guest-get-disks leaves out empty devices, entries that are not links, and names partitions as the kernel does (nvme0n1p1)', () => {
  const t = sysTree([
    { sys: `${PCI}/0000:00:04.0/nvme/nvme0/nvme0n1`, name: 'nvme0n1', major: 259, minor: 0, driverAt: [`${PCI}/0000:00:04.0`], driver: 'nvme' },
    { sys: `${PCI}/0000:00:04.0/nvme/nvme0/nvme0n1/nvme0n1p1`, name: 'nvme0n1p1', major: 259, minor: 1, partition: true },
    { sys: '/sys/devices/virtual/block/loop1', name: 'loop1', major: 7, minor: 1, size: '0\n' },
  ]);
  fs.mkdirSync(path.join(t.root, '/sys/block/not-a-link'));
  const names = guestDisks(createHost(t.root)).map((d) => [d.name, d.partition]);
  assert.equal(names.sort(), [['/dev/nvme0n1', false], ['/dev/nvme0n1p1', true]]);
});

test('local file systems: major 0 is not one (FUSE, tmpfs, NFS, even with a /dev source); btrfs is found through its device', () => {
  const text = [
    '29 1 254:1 / / rw - ext4 /dev/vda1 rw',
    '30 29 7:0 / /mnt/img rw - ext4 /dev/loop0 rw',
    '31 29 0:50 / /home/alice/remote rw,nosuid,nodev - fuse.sshfs alice@host: rw,user_id=1000',
    '32 29 0:51 / /mnt/fake rw - tmpfs /dev/not-a-disk rw',
    '33 29 0:52 / /srv/nfs rw - nfs4 srv:/export rw',
    '34 29 0:53 / /data rw - btrfs /dev/fake-btrfs rw',
    '35 29 254:1 /srv /bind rw - ext4 /dev/vda1 rw',
  ].join('\n');
  const mounts = parseMountinfo(text);
  const root = tempDir('mounts-');
  fs.mkdirSync(path.join(root, 'dev'));
  if (process.getuid!() !== 0) throw new Error('needs root for mknod (CI is root)');
  // A real block device node (major 254, minor 7) in the tree: what btrfs's source resolves to.
  execFileSync('mknod', [path.join(root, 'dev/fake-btrfs'), 'b', '254', '7']);
  const local = localMounts(mounts, createHost(root));
  assert.equal(local.map((m) => [m.mountpoint, `${m.major}:${m.minor}`]), [['/', '254:1'], ['/mnt/img', '7:0'], ['/data', '254:7'], ['/bind', '254:1']]);
  // The same from the text, the lines of major 0 dropped before they are split.
  assert.equal(localMountinfo(text, createHost(root)), local);
});

test.run();

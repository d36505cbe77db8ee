// Where a file system's block device sits, from sysfs: a partition (its number, first sector and
// length) on a disk, a whole disk, an LVM logical volume, or something this command does not
// grow (other device-mapper targets, md RAID). Sizes in sysfs are in 512-byte sectors whatever
// the disk's logical sector size.

import type { Host } from '../os/host';

export interface Disk {
  name: string;
  node: string;
  sectors: number;
  /** How its new size reaches the kernel: losetup -c, a SCSI rescan, or by itself (virtio-blk, NVMe, Xen). */
  rescan: 'loop' | 'scsi' | 'self';
}

export interface Partition { name: string; node: string; number: number; start: number; sectors: number }

export type Layout =
  | { kind: 'partition'; partition: Partition; disk: Disk }
  | { kind: 'disk'; disk: Disk }
  | { kind: 'lvm'; name: string; node: string; sectors: number; mapper: string }
  | { kind: 'other'; why: string };

const CLASS = '/sys/class/block';

function sectors(host: Host, name: string): number {
  const n = Number((host.read(`${CLASS}/${name}/size`) ?? '').trim());
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

export function diskOf(host: Host, name: string): Disk {
  const rescan = host.exists(`${CLASS}/${name}/loop`) ? 'loop' : host.exists(`${CLASS}/${name}/device/rescan`) ? 'scsi' : 'self';
  return { name, node: `/dev/${name}`, sectors: sectors(host, name), rescan };
}

/** Re-reads the sizes of a layout (after a rescan or a grow). */
export function sizesOf(host: Host, l: Layout): { disk: number | null; partition: number | null } {
  if (l.kind === 'partition') return { disk: sectors(host, l.disk.name) * 512, partition: sectors(host, l.partition.name) * 512 };
  if (l.kind === 'disk') return { disk: sectors(host, l.disk.name) * 512, partition: null };
  if (l.kind === 'lvm') return { disk: sectors(host, l.name) * 512, partition: null };
  return { disk: null, partition: null };
}

export function blockLayout(host: Host, name: string): Layout {
  const dir = `${CLASS}/${name}`;
  const dmUuid = host.read(`${dir}/dm/uuid`);
  if (dmUuid !== null) {
    const mapper = (host.read(`${dir}/dm/name`) ?? '').trim();
    if (dmUuid.startsWith('LVM-')) return { kind: 'lvm', name, node: `/dev/${name}`, sectors: sectors(host, name), mapper };
    const target = dmUuid.split('-')[0] || 'no uuid';
    return { kind: 'other', why: `/dev/${name} is a device-mapper device (${mapper || name}, ${target}) that is not an LVM logical volume: it is not grown` };
  }
  if (host.exists(`${dir}/md`)) return { kind: 'other', why: `/dev/${name} is an md RAID array: growing its members and the array is not done by this command` };
  const partNo = host.read(`${dir}/partition`);
  if (partNo === null) return { kind: 'disk', disk: diskOf(host, name) };
  // A partition's sysfs directory sits inside its disk's.
  const real = host.realpath(dir) ?? '';
  const parent = real.split('/').slice(-2, -1)[0] ?? '';
  if (!parent || !host.exists(`${CLASS}/${parent}`)) return { kind: 'other', why: `the disk of partition /dev/${name} is not found in sysfs` };
  const start = Number((host.read(`${dir}/start`) ?? '').trim());
  return {
    kind: 'partition',
    partition: { name, node: `/dev/${name}`, number: Number(partNo.trim()), start, sectors: sectors(host, name) },
    disk: diskOf(host, parent),
  };
}

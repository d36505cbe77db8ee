// guest-get-disks (libvirt `guestinfo --disk`), as qemu-ga: every block device of /sys/block with
// a size, its device node, whether it is a partition, what it depends on (its slaves, or the disk
// of a partition), its device-mapper name as alias, and its bus address. NVMe SMART data is not
// read (it needs an ioctl). The list comes in qemu-ga's order: last found first.

import type { Host } from '../os/host';
import { DiskAddress, devnode, disksBehind, sysfsTarget, udevProperties } from './disk-address';

export interface GuestDisk {
  name: string;
  partition: boolean;
  dependencies?: string[];
  alias?: string;
  address?: DiskAddress;
}

/** Partitions of DISK are its subdirectories named DISK<n> or DISK p<n> (nvme0n1p1). */
function isPartition(disk: string, entry: string): boolean {
  if (!entry.startsWith(disk)) return false;
  const rest = entry.slice(disk.length);
  return /^\d/.test(rest) || /^p\d/.test(rest);
}

export function guestDisks(host: Host): GuestDisk[] {
  const out: GuestDisk[] = [];
  for (const e of host.entries('/sys/block')) {
    if (!e.link) continue;
    const dir = `/sys/block/${e.name}`;
    const size = host.read(`${dir}/size`);
    if (size === null || size === '0\n') continue;
    const name = devnode(host, dir);
    if (!name) continue;
    const disk: GuestDisk = { name, partition: false };
    // udev's DM_NAME; where udevd does not run, the same name from sysfs.
    const alias = udevProperties(host, dir).DM_NAME || host.read(`${dir}/dm/name`)?.trim();
    if (alias) disk.alias = alias;
    out.unshift(disk);
    const real = sysfsTarget(host, dir);
    if (real && !real.includes('/devices/virtual/block/')) {
      const address = disksBehind(host, dir).disks[0];
      if (address) disk.address = address;
    }
    if (host.exists(`${dir}/slaves`)) {
      disk.dependencies = [];
      for (const s of host.entries(`${dir}/slaves`)) {
        const dep = devnode(host, `${dir}/slaves/${s.name}`);
        if (dep) disk.dependencies.unshift(dep);
      }
    }
    for (const p of host.entries(dir)) {
      if (!p.dir || !isPartition(e.name, p.name)) continue;
      const part = devnode(host, `${dir}/${p.name}`);
      if (part) out.unshift({ name: part, partition: true, dependencies: [name] });
    }
  }
  return out;
}

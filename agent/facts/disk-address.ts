// Where a block device sits on the buses, as qemu-ga 7.2 works it out from its sysfs path
// (guest-get-fsinfo's "disk" entries, guest-get-disks' "address"): a virtual device (dm, md, loop)
// stands for its slaves, a real one gets its PCI controller and bus/target/unit from the driver
// (ata_piix, sym53c8xx, virtio-pci, ahci, nvme), or a CCW address on s390. The device node comes
// from the uevent file, the serial from udev's database (or, where udevd does not run, sysfs).

import path = require('path');
import type { Host } from '../os/host';

export interface DiskAddress {
  'pci-controller': { domain: number; bus: number; slot: number; function: number };
  'bus-type': string;
  bus: number;
  target: number;
  unit: number;
  serial?: string;
  dev?: string;
  'ccw-address'?: { cssid: number; ssid: number; subchno: number; devno: number };
}

const DRIVERS = new Set(['ata_piix', 'sym53c8xx', 'virtio-pci', 'ahci', 'nvme']);
const PCI = /^\/?([0-9a-f]+):([0-9a-f]+):([0-9a-f]+)\.([0-9a-f]+)/i;

/** KEY=VALUE lines (uevent) or udev's "E:KEY=VALUE" database lines. */
function properties(text: string | null, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of (text ?? '').split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const i = line.indexOf('=');
    if (i > prefix.length) out[line.slice(prefix.length, i)] = line.slice(i + 1);
  }
  return out;
}

/** The /dev node of a sysfs device (libudev's devnode: DEVNAME of its uevent). */
export function devnode(host: Host, syspath: string): string | null {
  const name = properties(host.read(`${syspath}/uevent`)).DEVNAME;
  return name ? `/dev/${name}` : null;
}

/** udev's properties of a sysfs block device (empty where udevd does not run). */
export function udevProperties(host: Host, syspath: string): Record<string, string> {
  const u = properties(host.read(`${syspath}/uevent`));
  return u.MAJOR && u.MINOR ? properties(host.read(`/run/udev/data/b${u.MAJOR}:${u.MINOR}`), 'E:') : {};
}

/**
 * Serials read from sysfs, by device directory and its identity (inode and change time, new when
 * the device is replaced): reading virtio-blk's serial is a request to the host, ~0.3 ms each.
 */
const serials = new WeakMap<Host, Map<string, string | undefined>>();
const MAX_SERIALS = 64;

/** A disk's serial where udev has none: virtio's serial, NVMe's device/serial (of the whole disk for a partition). */
function sysfsSerial(host: Host, syspath: string): string | undefined {
  const disk = host.exists(`${syspath}/partition`) ? path.dirname(syspath) : syspath;
  const id = host.identity(disk);
  let cache = serials.get(host);
  if (!cache) serials.set(host, cache = new Map());
  const key = `${disk} ${id}`;
  if (id !== null && cache.has(key)) return cache.get(key);
  const serial = (host.read(`${disk}/serial`) ?? host.read(`${disk}/device/serial`))?.trim() || undefined;
  if (id !== null) {
    if (cache.size >= MAX_SERIALS) cache.clear();
    cache.set(key, serial);
  }
  return serial;
}

/**
 * Where a sysfs link leads. Its links are relative and point into /sys/devices, where nothing is
 * a link: one readlink, where realpath would lstat every component (~15x the time).
 */
export function sysfsTarget(host: Host, p: string): string | null {
  const link = host.link(p);
  if (link === null || link.startsWith('/')) return host.realpath(p);
  const target = path.posix.resolve(path.posix.dirname(p), link);
  return host.exists(target) ? target : null;
}

/** The sorted numbers N of the "ataN" or "hostN" entries next to a controller's ports (at most 8, as qemu-ga). */
function hostNumbers(host: Host, dir: string, ata: boolean): number[] {
  const re = ata ? /^ata(\d+)/ : /^host(\d+)/;
  return host.entries(dir).map((e) => re.exec(e.name)).filter((m): m is RegExpExecArray => m !== null).slice(0, 8).map((m) => Number(m[1])).sort((a, b) => a - b);
}

/** qemu-ga's build_guest_fsinfo_for_pci_dev: true when the driver gave a bus type. */
function pciDevice(host: Host, syspath: string, disk: DiskAddress): boolean {
  const start = syspath.indexOf('/devices/pci') + 12;
  const root = /^[0-9a-f]+:[0-9a-f]+/i.exec(syspath.slice(start));
  if (!root) return false;
  let pos = start + root[0].length;
  let m = PCI.exec(syspath.slice(pos));
  if (!m || !syspath.startsWith('/', pos)) return false;
  let pci = m.slice(1, 5).map((x) => parseInt(x, 16));
  pos += m[0].length;
  let driver = '';
  // Walk down the bridges to the first device whose driver qemu-ga knows.
  for (;;) {
    driver = path.basename(host.link(`${syspath.slice(0, pos)}/driver`) ?? '');
    if (DRIVERS.has(driver)) break;
    m = syspath.startsWith('/', pos) ? PCI.exec(syspath.slice(pos)) : null;
    if (!m) return false;
    pci = m.slice(1, 5).map((x) => parseInt(x, 16));
    pos += m[0].length;
  }
  const t = syspath.indexOf('/target');
  const tm = t >= 0 ? /^\d+:\d+:\d+\/\d+:(\d+):(\d+):(\d+)/.exec(syspath.slice(t + 7)) : null;
  const tgt = tm ? tm.slice(1, 4).map(Number) : null;
  const ataAt = syspath.indexOf('/ata');
  const hostAt = ataAt >= 0 ? ataAt : syspath.indexOf('/host');
  const hm = hostAt >= 0 ? /^\d+/.exec(syspath.slice(hostAt + (ataAt >= 0 ? 4 : 5))) : null;
  const hostNo = hm ? Number(hm[0]) : null;
  const hosts = hostNo !== null ? hostNumbers(host, syspath.slice(0, hostAt), ataAt >= 0) : [];
  disk['pci-controller'] = { domain: pci[0], bus: pci[1], slot: pci[2], function: pci[3] };
  const index = hostNo === null ? -1 : hosts.indexOf(hostNo);
  switch (driver) {
    case 'ata_piix':
      // One host per IDE bus: target*:0:<unit>:0.
      if (!tgt || index < 0) return false;
      Object.assign(disk, { 'bus-type': 'ide', bus: index, unit: tgt[1] });
      return true;
    case 'sym53c8xx':
      if (!tgt) return false;
      Object.assign(disk, { 'bus-type': 'scsi', unit: tgt[1] });
      return true;
    case 'virtio-pci':
      // virtio-scsi: target*:0:0:<unit>; virtio-blk: one disk per device.
      Object.assign(disk, tgt ? { 'bus-type': 'scsi', unit: tgt[2] } : { 'bus-type': 'virtio' });
      return true;
    case 'ahci':
      // One host per unit.
      if (!tgt || index < 0) return false;
      Object.assign(disk, { 'bus-type': 'sata', unit: index });
      return true;
    default:
      disk['bus-type'] = 'nvme';
      return true;
  }
}

function virtioDevice(syspath: string, disk: DiskAddress): boolean {
  if (!syspath.includes('/virtio') || !syspath.includes('/block')) return false;
  const t = syspath.indexOf('/target');
  const m = t >= 0 ? /^\d+:\d+:\d+\/\d+:(\d+):(\d+):(\d+)/.exec(syspath.slice(t + 7)) : null;
  Object.assign(disk, m ? { 'bus-type': 'scsi', bus: Number(m[1]), target: Number(m[2]), unit: Number(m[3]) } : { 'bus-type': 'virtio' });
  return true;
}

function ccwDevice(syspath: string, disk: DiskAddress): boolean {
  const p = syspath.indexOf('/devices/css');
  const m = /^[0-9a-f]+\/([0-9a-f]+)\.([0-9a-f]+)\.([0-9a-f]+)\/[0-9a-f]+\.[0-9a-f]+\.([0-9a-f]+)\//i.exec(syspath.slice(p + 12));
  if (!m) return false;
  const [cssid, ssid, subchno, devno] = m.slice(1, 5).map((x) => parseInt(x, 16));
  disk['ccw-address'] = { cssid, ssid, subchno, devno };
  if (syspath.slice(p).includes('/virtio')) virtioDevice(syspath, disk);
  return true;
}

/** What a real device's address was found from: its sysfs node and udev's record of it, as they were. */
interface KnownDisk { id: string; udev: string | null; udevId: string | null; disk: DiskAddress | null }
const knownDisks = new WeakMap<Host, Map<string, KnownDisk>>();
const MAX_KNOWN_DISKS = 64;

/**
 * The address of a real device (not cached: its parts), or null when nothing is known of it. A
 * device keeps its name, bus and serial while its sysfs node lives, and udev rewrites its record
 * by rename: the two identities say whether to look again (2 stats instead of ~15 reads).
 */
function realDevice(host: Host, syspath: string, knownId?: string | null): DiskAddress | null {
  let cache = knownDisks.get(host);
  if (!cache) knownDisks.set(host, cache = new Map());
  const id = knownId !== undefined ? knownId : host.identity(syspath);
  const known = cache.get(syspath);
  if (known && id !== null && known.id === id && (known.udev === null || host.identity(known.udev) === known.udevId)) return known.disk;
  const uevent = properties(host.read(`${syspath}/uevent`));
  const udev = uevent.MAJOR && uevent.MINOR ? `/run/udev/data/b${uevent.MAJOR}:${uevent.MINOR}` : null;
  const udevId = udev && host.identity(udev);
  const disk = addressOf(host, syspath, uevent, udev);
  if (id !== null) {
    if (cache.size >= MAX_KNOWN_DISKS) cache.clear();
    cache.set(syspath, { id, udev, udevId, disk });
  }
  return disk;
}

function addressOf(host: Host, syspath: string, uevent: Record<string, string>, udev: string | null): DiskAddress | null {
  const disk: DiskAddress = { 'pci-controller': { domain: -1, bus: -1, slot: -1, function: -1 }, 'bus-type': 'unknown', bus: 0, target: 0, unit: 0 };
  const dev = uevent.DEVNAME ? `/dev/${uevent.DEVNAME}` : null;
  if (dev) disk.dev = dev;
  const serial = (udev && properties(host.read(udev), 'E:').ID_SERIAL) || sysfsSerial(host, syspath);
  if (serial) disk.serial = serial;
  const known = syspath.includes('/devices/pci') ? pciDevice(host, syspath, disk)
    : syspath.includes('/devices/css') ? ccwDevice(syspath, disk)
      : syspath.includes('/virtio') ? virtioDevice(syspath, disk) : false;
  return known || dev || serial ? disk : null;
}

/** ID: the identity of SYSPATH when the caller has it. */
function collect(host: Host, syspath: string, out: DiskAddress[], depth: number, id?: string | null): void {
  if (!syspath.includes('/devices/virtual/block/')) {
    const disk = realDevice(host, syspath, id);
    if (disk) out.unshift(disk);
    return;
  }
  // A loop device has no slaves: no disk, as qemu-ga ("disk": []).
  if (depth > 16) return;
  for (const e of host.entries(`${syspath}/slaves`)) {
    if (!e.link) continue;
    const real = sysfsTarget(host, `${syspath}/slaves/${e.name}`);
    if (real) collect(host, real, out, depth + 1);
  }
}

/** The name (kernel device name) and disks behind DEVPATH (/sys/dev/block/M:m or /sys/block/X). */
/** Where each device link led, by the identity of the node it leads to: one stat instead of readlink and a check. */
const targets = new WeakMap<Host, Map<string, { id: string; syspath: string }>>();

export function disksBehind(host: Host, devpath: string): { name: string; disks: DiskAddress[] } {
  let cache = targets.get(host);
  if (!cache) targets.set(host, cache = new Map());
  const id = host.identity(devpath);
  const known = cache.get(devpath);
  const syspath = known && id !== null && known.id === id ? known.syspath : sysfsTarget(host, devpath);
  // Not in this sysfs (a container): the name only, as qemu-ga.
  if (!syspath) return { name: path.basename(devpath), disks: [] };
  if (id !== null && known?.id !== id) {
    if (cache.size >= MAX_KNOWN_DISKS) cache.clear();
    cache.set(devpath, { id, syspath });
  }
  const disks: DiskAddress[] = [];
  collect(host, syspath, disks, 0, id);
  return { name: path.basename(syspath), disks };
}

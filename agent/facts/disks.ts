// Block devices and file systems: guest-get-diskstats (/proc/diskstats) and guest-get-fsinfo
// (mountinfo, statfs, sysfs), in qemu-ga's shapes.

import type { FsUsage, Host } from '../os/host';

/** The /proc/diskstats columns after major, minor, name: 11 up to 4.17, 15 from 4.18, 17 from 5.5. */
const DISKSTAT_FIELDS = ['read-ios', 'read-merges', 'read-sectors', 'read-ticks', 'write-ios', 'write-merges', 'write-sectors', 'write-ticks',
  'ios-pgr', 'total-ticks', 'weight-ticks', 'discard-ios', 'discard-merges', 'discard-sectors', 'discard-ticks', 'flush-ios', 'flush-ticks'] as const;
export type DiskStatField = typeof DISKSTAT_FIELDS[number];

export interface DiskStat { name: string; major: number; minor: number; stats: Partial<Record<DiskStatField, number>> }

export function parseDiskstats(text: string): DiskStat[] {
  const out: DiskStat[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 7) continue;
    const stats: DiskStat['stats'] = {};
    // Kernels before 2.6.25 printed 4 fields for partitions: reads, read sectors, writes, write sectors.
    if (f.length === 7) Object.assign(stats, { 'read-ios': Number(f[3]), 'read-sectors': Number(f[4]), 'write-ios': Number(f[5]), 'write-sectors': Number(f[6]) });
    else DISKSTAT_FIELDS.forEach((k, i) => { if (f[i + 3] !== undefined) stats[k] = Number(f[i + 3]); });
    out.push({ name: f[2], major: Number(f[0]), minor: Number(f[1]), stats });
  }
  return out;
}

export interface Mount { id: number; major: number; minor: number; mountpoint: string; type: string; source: string; root: string }

/** mountinfo escapes space, tab, newline and backslash as \040 \011 \012 \134. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const a = line.slice(0, dash).split(' ');
    const b = line.slice(dash + 3).split(' ');
    const [major, minor] = (a[2] ?? '').split(':').map(Number);
    out.push({ id: Number(a[0]), major, minor, root: unescapeMount(a[3] ?? ''), mountpoint: unescapeMount(a[4] ?? ''), type: b[0], source: unescapeMount(b[1] ?? '') });
  }
  return out;
}

/** Local file systems as qemu-ga counts them: a device path, not a network share (smbfs, cifs), not a bind mount of a directory. */
export function localMounts(mounts: Mount[]): Mount[] {
  return mounts.filter((m) => m.source.startsWith('/') && m.type !== 'smbfs' && m.type !== 'cifs' && m.type !== 'nfs' && m.type !== 'nfs4');
}

/** Bytes as qemu-ga reports them: used = blocks - free; total = used + what unprivileged users may still use. */
export function usageBytes(u: FsUsage): { used: number; total: number; totalPrivileged: number } {
  return { used: (u.blocks - u.bfree) * u.bsize, total: (u.blocks - u.bfree + u.bavail) * u.bsize, totalPrivileged: u.blocks * u.bsize };
}

/** Where a block device hangs in the bus tree, from its sysfs path (virtio, scsi, ide/ata, nvme, xen). */
export function diskAddress(host: Host, m: Mount): Record<string, unknown> | null {
  const dev = host.link(`/sys/dev/block/${m.major}:${m.minor}`);
  if (!dev) return null;
  // A partition's parent holds the disk; a device mapper volume would need its slaves (left out).
  const parts = dev.split('/');
  let disk = parts[parts.length - 1];
  if (host.exists(`/sys/dev/block/${m.major}:${m.minor}/partition`)) disk = parts[parts.length - 2];
  const pci = [...dev.matchAll(/([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])/g)].pop();
  const addr: Record<string, unknown> = { dev: `/dev/${disk}` };
  if (pci) addr['pci-controller'] = { domain: parseInt(pci[1], 16), bus: parseInt(pci[2], 16), slot: parseInt(pci[3], 16), function: parseInt(pci[4], 16) };
  const scsi = /\/(\d+):(\d+):(\d+):(\d+)\/block\//.exec(dev);
  if (/\/virtio\d+\/block\//.test(dev)) Object.assign(addr, { 'bus-type': 'virtio', bus: 0, target: 0, unit: 0 });
  else if (/\/nvme\//.test(dev)) Object.assign(addr, { 'bus-type': 'nvme', bus: 0, target: 0, unit: 0 });
  else if (/\/xen\/|vbd-/.test(dev)) Object.assign(addr, { 'bus-type': 'xen', bus: 0, target: 0, unit: 0 });
  else if (scsi) Object.assign(addr, { 'bus-type': /\/ata\d+\//.test(dev) ? 'sata' : 'scsi', bus: Number(scsi[2]), target: Number(scsi[3]), unit: Number(scsi[4]) });
  else Object.assign(addr, { 'bus-type': 'unknown', bus: 0, target: 0, unit: 0 });
  const serial = host.read(`/sys/block/${disk}/serial`)?.trim() || host.read(`/sys/block/${disk}/device/serial`)?.trim();
  if (serial) addr.serial = serial;
  return addr;
}

export async function fsInfo(host: Host): Promise<Array<Record<string, unknown>>> {
  // qemu-ga lists the newest mount first.
  const mounts = localMounts(parseMountinfo(host.read('/proc/self/mountinfo') ?? '')).reverse();
  return Promise.all(mounts.map(async (m) => {
    const name = host.link(`/sys/dev/block/${m.major}:${m.minor}`)?.split('/').pop() ?? m.source.replace('/dev/', '');
    const row: Record<string, unknown> = { name, mountpoint: m.mountpoint, type: m.type };
    const u = await host.usage(m.mountpoint);
    if (u) {
      const b = usageBytes(u);
      Object.assign(row, { 'used-bytes': b.used, 'total-bytes': b.total, 'total-bytes-privileged': b.totalPrivileged });
    }
    const addr = diskAddress(host, m);
    row.disk = addr ? [addr] : [];
    return row;
  }));
}

// Block devices and file systems: guest-get-diskstats (/proc/diskstats) and guest-get-fsinfo
// (mountinfo, statfs, sysfs), in qemu-ga's shapes.

import type { FsUsage, Host } from '../os/host';
import { disksBehind } from './disk-address';

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

export interface Mount { id: number; major: number; minor: number; mountpoint: string; type: string; source: string; root: string; readOnly: boolean }

/** mountinfo escapes space, tab, newline and backslash as \040 \011 \012 \134. */
function unescapeMount(s: string): string {
  return !s.includes('\\') ? s : s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const a = line.slice(0, dash).split(' ');
    const b = line.slice(dash + 3).split(' ');
    const [major, minor] = (a[2] ?? '').split(':').map(Number);
    out.push({ id: Number(a[0]), major, minor, root: unescapeMount(a[3] ?? ''), mountpoint: unescapeMount(a[4] ?? ''), type: b[0], source: unescapeMount(b[1] ?? ''), readOnly: (a[5] ?? '').split(',').includes('ro') });
  }
  return out;
}

/**
 * Local file systems as qemu-ga counts them: a block device behind the mount (major number not 0).
 * That leaves out tmpfs, proc, network shares and FUSE (a user's sshfs could hang the agent);
 * btrfs reports major 0 and is resolved through its device. Bind mounts count, as in qemu-ga.
 */
export function localMounts(mounts: Mount[], host?: Host): Mount[] {
  const out: Mount[] = [];
  for (const m of mounts) {
    if (m.major !== 0) { out.push(m); continue; }
    if (m.type !== 'btrfs') continue;
    // Without a door to stat the device (statistics), a btrfs on a device path counts as is.
    const dev = host ? host.blockDevice(m.source) : m.source.startsWith('/') ? { major: 0, minor: 0 } : null;
    if (dev) out.push({ ...m, ...dev });
  }
  return out;
}

/**
 * localMounts of a mountinfo text, with the lines of major 0 (proc, sysfs, tmpfs, cgroups: most of
 * them) dropped before they are split; btrfs, which reports major 0, is kept.
 */
export function localMountinfo(text: string, host: Host): Mount[] {
  const lines = text.split('\n').filter((line) => {
    // The third field is MAJOR:MINOR.
    const at = line.indexOf(' ', line.indexOf(' ') + 1) + 1;
    return !line.startsWith('0:', at) || line.includes(' - btrfs ');
  });
  return localMounts(parseMountinfo(lines.join('\n')), host);
}

/** Bytes as qemu-ga reports them: used = blocks - free; total = used + what unprivileged users may still use. */
export function usageBytes(u: FsUsage): { used: number; total: number; totalPrivileged: number } {
  return { used: (u.blocks - u.bfree) * u.bsize, total: (u.blocks - u.bfree + u.bavail) * u.bsize, totalPrivileged: u.blocks * u.bsize };
}

export async function fsInfo(host: Host): Promise<Array<Record<string, unknown>>> {
  // qemu-ga lists the newest mount first.
  const mounts = localMountinfo(host.read('/proc/self/mountinfo') ?? '', host).reverse();
  return Promise.all(mounts.map(async (m) => {
    const { name, disks } = disksBehind(host, `/sys/dev/block/${m.major}:${m.minor}`);
    const row: Record<string, unknown> = { name, mountpoint: m.mountpoint, type: m.type };
    const u = await host.usage(m.mountpoint);
    if (u) {
      const b = usageBytes(u);
      Object.assign(row, { 'used-bytes': b.used, 'total-bytes': b.total, 'total-bytes-privileged': b.totalPrivileged });
    }
    row.disk = disks;
    return row;
  }));
}

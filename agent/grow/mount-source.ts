// Which block device a mount point's file system lives on: the newest mount of that path in
// /proc/self/mountinfo, its device number (btrfs reports 0:N, resolved through its source) and
// that device's name in sysfs. What has no block device behind it (tmpfs, overlay, nfs, fuse) has
// nothing a disk resize could give it, and is refused with its type named; so is a read-only mount.

import { Mount, parseMountinfo } from '../facts/disks';
import type { Host } from '../os/host';
import { bad } from '../commands/schema';
import { QgaError } from '../wire/reply';

export interface MountSource {
  mountpoint: string;
  /** File system type as mountinfo names it (ext4, xfs, btrfs). */
  type: string;
  /** sysfs name of the block device (vda1, loop3p1, dm-0). */
  name: string;
  /** Its device node, checked to be that device. */
  node: string;
}

const fail = (desc: string): never => { throw new QgaError('GenericError', desc); };
const quoted = (s: string): string => `'${s.length > 200 ? `${s.slice(0, 200)}...` : s}'`;

/** An absolute, normalized path: what mountinfo prints for a mount point. */
export function checkMountpoint(p: string): void {
  if (!p.startsWith('/') || p.includes('\0') || (p !== '/' && p.endsWith('/')) || p.split('/').slice(1).some((c) => c === '' || c === '.' || c === '..')) {
    bad('mountpoint', `expects an absolute path without empty, . or .. components, got ${quoted(p)}`);
  }
}

function newestMount(host: Host, mountpoint: string): Mount {
  const mounts = parseMountinfo(host.read('/proc/self/mountinfo') ?? '').filter((m) => m.mountpoint === mountpoint);
  // The last line for a path is the mount on top, the one a path lookup reaches.
  return mounts[mounts.length - 1] ?? bad('mountpoint', `names ${quoted(mountpoint)}, which is not a mount point (not in /proc/self/mountinfo)`);
}

export function mountSource(host: Host, mountpoint: string): MountSource {
  checkMountpoint(mountpoint);
  const m = newestMount(host, mountpoint);
  const notBlock = (): never => fail(`${quoted(mountpoint)} is a ${m.type} file system (source ${quoted(m.source)}), not one on a block device: there is no disk to grow it from`);
  let dev = { major: m.major, minor: m.minor };
  if (m.major === 0) {
    // btrfs shows an anonymous device number; its source names the (first) device.
    if (m.type !== 'btrfs' || !m.source.startsWith('/')) notBlock();
    dev = host.blockDevice(m.source) ?? notBlock();
  }
  if (m.readOnly) fail(`${quoted(mountpoint)} is mounted read-only: its ${m.type} file system cannot be grown online (remount it read-write first); nothing was changed`);
  const sys = host.realpath(`/sys/dev/block/${dev.major}:${dev.minor}`);
  if (!sys) return fail(`the block device ${dev.major}:${dev.minor} of ${quoted(mountpoint)} is not in /sys/dev/block`);
  const name = sys.slice(sys.lastIndexOf('/') + 1);
  const node = `/dev/${name}`;
  const real = host.blockDevice(node);
  if (!real || real.major !== dev.major || real.minor !== dev.minor) fail(`${node} is not the block device ${dev.major}:${dev.minor} of ${quoted(mountpoint)} (no devtmpfs on /dev?)`);
  return { mountpoint, type: m.type, name, node };
}

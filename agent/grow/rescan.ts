// Making the kernel see a disk's new size: a loop device re-reads its file's size (losetup -c),
// a SCSI disk is rescanned through sysfs; virtio-blk, NVMe and Xen disks update themselves when
// the host resizes them.

import fs = require('fs');
import type { System } from '../os/system';
import { QgaError } from '../wire/reply';
import type { Disk } from './block-layout';
import { Step, toolError } from './step';

const fail = (desc: string): never => { throw new QgaError('GenericError', desc); };

/** Rescans DISK; LIVE is the door on the running system (sysfs is the kernel's, never under os-root). */
export async function rescanDisk(live: System, disk: Disk, sizeNow: () => number): Promise<Step> {
  const before = disk.sectors;
  let how: string;
  if (disk.rescan === 'loop') {
    const losetup = live.which('losetup') ?? fail(`losetup is not installed (util-linux): the loop device ${disk.node} cannot be told its file's new size`);
    const r = await live.run(losetup, ['-c', disk.node], { timeoutMs: 30_000 });
    if (r.code !== 0) fail(`losetup -c ${disk.node} failed: ${toolError(r)}; nothing was changed`);
    how = `losetup -c ${disk.node}`;
  } else if (disk.rescan === 'scsi') {
    const attr = `/sys/class/block/${disk.name}/device/rescan`;
    try {
      const fd = live.file.open(attr, fs.constants.O_WRONLY);
      try { await live.file.write(fd, Buffer.from('1'), null); } finally { live.file.close(fd); }
    } catch (e) {
      fail(`the SCSI disk ${disk.node} could not be rescanned (${attr}: ${(e as NodeJS.ErrnoException).code ?? 'error'}); nothing was changed`);
    }
    how = `wrote 1 to ${attr}`;
  } else {
    return { step: 'rescan', done: false, desc: `${disk.node} updates its size itself when the host resizes it (virtio-blk, NVMe, Xen): ${before * 512} bytes` };
  }
  const after = sizeNow();
  return { step: 'rescan', done: after !== before, desc: `${how}: ${after === before ? `size unchanged, ${after * 512} bytes` : `${before * 512} -> ${after * 512} bytes`}` };
}

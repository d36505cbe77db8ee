// phoenix-grow-filesystem: after the host enlarged a virtual disk, make a mounted file system use
// it: rescan the disk, grow the partition (growpart's rules: the last on the disk, GPT or primary
// MBR), tell the kernel, grow the file system online. Everything that can be known is checked
// before the first change (mount, device, tools, partition table); each step says what it did
// or why nothing was needed. Run again, it finds nothing to grow.

import { createSystem, System } from '../os/system';
import type { Host } from '../os/host';
import { QgaError } from '../wire/reply';
import { blockLayout, Layout, sizesOf } from './block-layout';
import { growFs, resizerFor } from './fs-resize';
import { extendVolume, lookUpVolume } from './lvm';
import { mountSource } from './mount-source';
import { growPartition, partitionTools, readTable } from './partition-grow';
import { partitionPlan } from './partition-table';
import { rescanDisk } from './rescan';
import type { Step } from './step';

export interface Sizes { disk_bytes: number | null; partition_bytes: number | null; filesystem_bytes: number | null }

export interface GrowReply {
  mountpoint: string;
  type: string;
  device: string;
  /** The disk (or logical volume) the file system's device is on. */
  disk: string;
  partition: number | null;
  table: string | null;
  before: Sizes;
  after: Sizes;
  steps: Step[];
  result: 'grown' | 'nothing to grow';
}

const fail = (desc: string): never => { throw new QgaError('GenericError', desc); };

/** A failure after a change says what was already changed. */
function withDone(e: unknown, steps: Step[]): unknown {
  const done = steps.filter((s) => s.done && s.step !== 'rescan').map((s) => s.desc);
  return e instanceof QgaError && done.length ? new QgaError(e.cls, `${e.desc} (already done: ${done.join('; ')})`) : e;
}

export async function growFilesystem(sys: System, host: Host, mountpoint: string): Promise<GrowReply> {
  const m = mountSource(host, mountpoint);
  const resizer = resizerFor(sys, host, m);
  const layout: Layout = blockLayout(host, m.name);
  if (layout.kind === 'other') return fail(layout.why);
  const fsBytes = async (): Promise<number | null> => { const u = await host.usage(m.mountpoint); return u ? u.blocks * u.bsize : null; };
  const sizes = async (): Promise<Sizes> => { const s = sizesOf(host, layout); return { disk_bytes: s.disk, partition_bytes: s.partition, filesystem_bytes: await fsBytes() }; };
  const before = await sizes();
  const steps: Step[] = [];
  let table: string | null = null;
  if (layout.kind === 'lvm') {
    const { volume, lvextend } = await lookUpVolume(sys, layout.mapper);
    steps.push(await extendVolume(sys, volume, lvextend));
  } else {
    const { disk } = layout;
    const part = layout.kind === 'partition' ? layout.partition : null;
    const tools = part ? partitionTools(sys) : null;
    // Refusals that do not depend on the disk's size come before any change.
    const old = part && tools ? await readTable(sys, tools, disk) : null;
    if (part && old) {
      table = old.label;
      const p = partitionPlan(old, part, disk);
      if (p.action === 'refuse') fail(p.desc);
    }
    // sysfs belongs to the running kernel, never to the tree under os-root.
    const live = sys.root === '/' ? sys : createSystem('/');
    steps.push(await rescanDisk(live, disk, () => (sizesOf(host, layout).disk ?? 0) / 512));
    try {
      if (part && tools) {
        const grown = { ...disk, sectors: (sizesOf(host, layout).disk ?? 0) / 512 };
        const plan = partitionPlan(await readTable(sys, tools, grown), part, grown);
        steps.push(await growPartition(sys, host, tools, part, grown, plan));
      }
      steps.push(await growFs(sys, m, resizer, before.filesystem_bytes, fsBytes));
    } catch (e) {
      throw withDone(e, steps);
    }
  }
  const after = await sizes();
  return {
    mountpoint: m.mountpoint,
    type: m.type,
    device: m.node,
    disk: layout.kind === 'lvm' ? layout.node : layout.disk.node,
    partition: layout.kind === 'partition' ? layout.partition.number : null,
    table,
    before,
    after,
    steps,
    result: steps.some((s) => s.done && s.step !== 'rescan') ? 'grown' : 'nothing to grow',
  };
}

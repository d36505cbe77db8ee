// Growing a mounted partition as growpart does, then telling the kernel (partx -u: the BLKPG
// resize ioctl, since a disk in use cannot have its table re-read). growpart (cloud-guest-utils)
// when installed; else sfdisk itself: the backup GPT moved to the disk's new end, then the
// partition's size set to "+" (all the room after it).

import type { Host } from '../os/host';
import type { System } from '../os/system';
import { QgaError } from '../wire/reply';
import type { Disk, Partition } from './block-layout';
import { parseSfdiskJson, PartitionTable, Plan } from './partition-table';
import { Step, toolError, toolSays } from './step';

const fail = (desc: string): never => { throw new QgaError('GenericError', desc); };
const TOOL_MS = 120_000;

export interface PartitionTools { sfdisk: string; partx: string; growpart: string | null }

/** The tools this needs, or a refusal that says what to install. */
export function partitionTools(sys: System): PartitionTools {
  const sfdisk = sys.which('sfdisk');
  const partx = sys.which('partx');
  if (!sfdisk) fail(`${sys.which('growpart') ? 'sfdisk is not' : 'neither growpart nor sfdisk is'} installed: the partition cannot be grown; install cloud-guest-utils (growpart, and sfdisk with it)`);
  if (!partx) fail('partx is not installed (util-linux): the kernel could not be told the partition\'s new size');
  return { sfdisk: sfdisk!, partx: partx!, growpart: sys.which('growpart') };
}

export async function readTable(sys: System, tools: PartitionTools, disk: Disk): Promise<PartitionTable> {
  const r = await sys.run(tools.sfdisk, ['--json', disk.node], { timeoutMs: TOOL_MS, maxOutput: 1 << 20 });
  const t = r.code === 0 ? parseSfdiskJson(r.stdout) : null;
  return t ?? fail(`the partition table of ${disk.node} could not be read (sfdisk --json: ${r.code === 0 ? 'output not understood' : toolError(r)})`);
}

async function tellKernel(sys: System, host: Host, tools: PartitionTools, part: Partition, disk: Disk): Promise<number> {
  const r = await sys.run(tools.partx, ['-u', '--nr', String(part.number), disk.node], { timeoutMs: TOOL_MS });
  if (r.code !== 0) fail(`partition ${part.number} of ${disk.node} was grown on disk, but the kernel was not told (partx -u: ${toolError(r)}); the file system was not grown`);
  return Number((host.read(`/sys/class/block/${part.name}/size`) ?? '').trim());
}

/** Grows the partition when the plan says so; refusals were decided before (partitionPlan). */
export async function growPartition(sys: System, host: Host, tools: PartitionTools, part: Partition, disk: Disk, plan: Plan): Promise<Step> {
  if (plan.action === 'refuse') return fail(plan.desc);
  if (plan.action === 'none') return { step: 'partition', done: false, desc: plan.desc };
  let how: string;
  if (plan.action === 'refresh') how = plan.desc;
  else if (tools.growpart) {
    const r = await sys.run(tools.growpart, [disk.node, String(part.number)], { timeoutMs: TOOL_MS });
    // growpart: 0 changed, 1 NOCHANGE (less than its minimum growth), 2 failed.
    if (r.code === 1 && /NOCHANGE/.test(r.stdout)) return { step: 'partition', done: false, desc: `growpart ${disk.node} ${part.number}: ${toolSays(r)}` };
    if (r.code !== 0) fail(`growpart ${disk.node} ${part.number} failed: ${toolError(r)}; the file system was not grown`);
    how = `growpart ${disk.node} ${part.number}: ${toolSays(r)}`;
  } else {
    how = await sfdiskGrow(sys, tools, part, disk);
  }
  const after = await tellKernel(sys, host, tools, part, disk);
  if (!(after > part.sectors)) fail(`partition ${part.number} of ${disk.node} is still ${part.sectors} sectors for the kernel after ${how}`);
  return { step: 'partition', done: true, desc: `${how}; the kernel now has ${after} sectors (was ${part.sectors})` };
}

async function sfdiskGrow(sys: System, tools: PartitionTools, part: Partition, disk: Disk): Promise<string> {
  const t = await readTable(sys, tools, disk);
  if (t.label === 'gpt') {
    const r = await sys.run(tools.sfdisk, ['--relocate', 'gpt-bak-std', disk.node], { timeoutMs: TOOL_MS });
    if (r.code !== 0) fail(`the backup GPT of ${disk.node} could not be moved to the disk's end (sfdisk --relocate gpt-bak-std: ${toolError(r)}); nothing was changed`);
  }
  // --force: the disk is in use (mounted); --no-reread: the kernel is told per partition after.
  const r = await sys.run(tools.sfdisk, ['--no-reread', '--force', '-N', String(part.number), disk.node], { input: Buffer.from(',+\n'), timeoutMs: TOOL_MS });
  if (r.code !== 0) fail(`sfdisk -N ${part.number} ${disk.node} failed: ${toolError(r)}; the file system was not grown`);
  return `sfdisk -N ${part.number} ${disk.node}: grown to the end of the disk${t.label === 'gpt' ? ' (backup GPT moved to the end first)' : ''}`;
}

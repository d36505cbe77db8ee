// Growing a mounted file system to fill its device, online: resize2fs for ext2/3/4 (on the
// device), xfs_growfs and `btrfs filesystem resize max` (on the mount point). Each tool is a
// no-op when there is nothing to grow. ext4's online resize ioctl needs CAP_SYS_RESOURCE,
// which a container may lack: checked before anything is changed.

import type { Host } from '../os/host';
import type { System } from '../os/system';
import { QgaError } from '../wire/reply';
import type { MountSource } from './mount-source';
import { Step, toolError } from './step';

const fail = (desc: string): never => { throw new QgaError('GenericError', desc); };

interface Resizer { tool: string; pkg: string; args(m: MountSource): string[] }

const EXT: Resizer = { tool: 'resize2fs', pkg: 'e2fsprogs', args: (m) => [m.node] };
export const RESIZERS: Record<string, Resizer> = {
  ext2: EXT, ext3: EXT, ext4: EXT,
  xfs: { tool: 'xfs_growfs', pkg: 'xfsprogs', args: (m) => [m.mountpoint] },
  btrfs: { tool: 'btrfs', pkg: 'btrfs-progs', args: (m) => ['filesystem', 'resize', 'max', m.mountpoint] },
};

const CAP_SYS_RESOURCE = 24n;

/** Whether this process holds CAP_SYS_RESOURCE (from /proc/self/status); null when unknown. */
export function hasSysResource(host: Host): boolean | null {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(host.read('/proc/self/status') ?? '');
  return m ? ((BigInt(`0x${m[1]}`) >> CAP_SYS_RESOURCE) & 1n) === 1n : null;
}

/** The resizer's absolute path for this file system, or a refusal naming the type or the package. */
export function resizerFor(sys: System, host: Host, m: MountSource): { path: string; r: Resizer } {
  const r = RESIZERS[m.type] ?? fail(`'${m.mountpoint}' is a ${m.type} file system: only ext2, ext3, ext4, xfs and btrfs are grown online`);
  const path = sys.which(r.tool) ?? fail(`${r.tool} is not installed (${r.pkg}): the ${m.type} file system on '${m.mountpoint}' cannot be grown`);
  if (r === EXT && hasSysResource(host) === false) fail(`growing ${m.type} online needs the capability CAP_SYS_RESOURCE, which this agent does not have (a container's bounding set?): '${m.mountpoint}' was not changed`);
  return { path, r };
}

export async function growFs(sys: System, m: MountSource, tool: { path: string; r: Resizer }, before: number | null, size: () => Promise<number | null>): Promise<Step> {
  const args = tool.r.args(m);
  const r = await sys.run(tool.path, args, { timeoutMs: 600_000 });
  const shown = `${tool.r.tool} ${args.join(' ')}`;
  if (r.code !== 0) fail(`${shown} failed: ${toolError(r)}`);
  const after = await size();
  const grew = before !== null && after !== null && after > before;
  return { step: 'filesystem', done: grew, desc: grew ? `${shown}: grown from ${before} to ${after} bytes` : `${shown}: the file system already fills its device` };
}

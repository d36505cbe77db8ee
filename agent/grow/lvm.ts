// A file system on an LVM logical volume: grown only from free extents its volume group already
// has (lvextend -r, which grows the file system too, through fsadm). Growing the physical volume
// first (its partition, pvresize) touches what other volumes share, and is refused with the reason.

import type { System } from '../os/system';
import { QgaError } from '../wire/reply';
import { Step, toolError } from './step';

const fail = (desc: string): never => { throw new QgaError('GenericError', desc); };

export interface LogicalVolume { vg: string; lv: string; vgFreeBytes: number }

/** Parses one line of `lvs --noheadings --nosuffix --units b --separator : -o vg_name,lv_name,vg_free`. */
export function parseLvs(text: string): LogicalVolume | null {
  const f = text.trim().split(':');
  if (f.length !== 3 || !f[0] || !f[1] || !/^\d+$/.test(f[2])) return null;
  return { vg: f[0], lv: f[1], vgFreeBytes: Number(f[2]) };
}

export async function lookUpVolume(sys: System, mapper: string): Promise<{ volume: LogicalVolume; lvextend: string }> {
  const lvs = sys.which('lvs');
  const lvextend = sys.which('lvextend');
  if (!lvs || !lvextend) fail(`/dev/mapper/${mapper} is an LVM logical volume, and lvm2 (lvs, lvextend) is not installed`);
  const r = await sys.run(lvs!, ['--noheadings', '--nosuffix', '--units', 'b', '--separator', ':', '-o', 'vg_name,lv_name,vg_free', `/dev/mapper/${mapper}`], { timeoutMs: 60_000 });
  const volume = r.code === 0 ? parseLvs(r.stdout) : null;
  if (!volume) fail(`the LVM logical volume /dev/mapper/${mapper} could not be looked up (lvs: ${r.code === 0 ? `unexpected output '${r.stdout.trim().slice(0, 200)}'` : toolError(r)})`);
  if (volume!.vgFreeBytes === 0) fail(`'${volume!.vg}/${volume!.lv}' is an LVM logical volume whose volume group '${volume!.vg}' has no free extents: growing the physical volume under it (its partition, then pvresize) is not done by this command`);
  return { volume: volume!, lvextend: lvextend! };
}

export async function extendVolume(sys: System, v: LogicalVolume, lvextend: string): Promise<Step> {
  const target = `${v.vg}/${v.lv}`;
  // -r: fsadm grows the file system in the same step (online for ext4 and xfs).
  const r = await sys.run(lvextend, ['-r', '-l', '+100%FREE', target], { timeoutMs: 600_000 });
  if (r.code !== 0) fail(`lvextend -r -l +100%FREE ${target} failed: ${toolError(r)}`);
  return { step: 'logical-volume', done: true, desc: `lvextend -r -l +100%FREE ${target}: ${v.vgFreeBytes} free bytes of '${v.vg}' added, the file system grown with it` };
}

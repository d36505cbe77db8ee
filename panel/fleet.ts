// The fleet's versions, from each VM's last checked heartbeat: how many VMs run each version, how
// their last update ended, and which failed (to halt a rollout, to find the VMs to look at).

import { promLabel } from './guest-text';
import type { VmView } from './heartbeat-receiver';

export interface Fleet {
  /** VMs by the version their supervisor runs. */
  versions: Record<string, number>;
  /** VMs by the state of their last update over the channel (none: never updated so). */
  updates: Record<string, number>;
  /** The VMs whose last update failed and came back. */
  failed: Array<{ vm: string; from: string; to: string; why: string | null }>;
}

export function fleetOf(views: VmView[]): Fleet {
  const f: Fleet = { versions: {}, updates: {}, failed: [] };
  for (const v of views) {
    if (!v.payload) continue;
    f.versions[v.payload.sup.ver] = (f.versions[v.payload.sup.ver] ?? 0) + 1;
    const u = v.payload.update;
    const state = u?.state ?? 'none';
    f.updates[state] = (f.updates[state] ?? 0) + 1;
    if (u?.state === 'update-failed') f.failed.push({ vm: v.vmId, from: u.from, to: u.to, why: u.why ?? null });
  }
  return f;
}

export function fleetMetrics(views: VmView[]): string[] {
  const f = fleetOf(views);
  return [
    '# HELP phoenix_ga_version_vms VMs whose last heartbeat came from each version.', '# TYPE phoenix_ga_version_vms gauge',
    ...Object.entries(f.versions).map(([ver, n]) => `phoenix_ga_version_vms{version="${promLabel(ver)}"} ${n}`),
    '# HELP phoenix_ga_update_vms VMs by the state of their last update over the channel.', '# TYPE phoenix_ga_update_vms gauge',
    ...Object.entries(f.updates).map(([s, n]) => `phoenix_ga_update_vms{state="${promLabel(s)}"} ${n}`),
    '# HELP phoenix_ga_update_failed 1 for each VM whose last update failed and rolled back.', '# TYPE phoenix_ga_update_failed gauge',
    ...f.failed.map((x) => `phoenix_ga_update_failed{vm="${promLabel(x.vm)}",from="${promLabel(x.from)}",to="${promLabel(x.to)}",why="${promLabel(x.why ?? '')}"} 1`),
  ];
}

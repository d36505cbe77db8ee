// CPU facts from /proc and /sys: guest-get-cpustats (per-CPU times in ms, as qemu-ga converts
// them), guest-get-vcpus, guest-get-load, and the counters the statistics sampler needs.

import type { Host } from '../os/host';

/** /proc/stat times are in USER_HZ ticks, 100 per second on every Linux ABI. */
export const USER_HZ = 100;
export const CPU_FIELDS = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'guest', 'guestnice'] as const;
export type CpuField = typeof CPU_FIELDS[number];
export type CpuTimes = Partial<Record<CpuField, number>>;

export interface ProcStat {
  total: CpuTimes;
  cpus: Array<{ cpu: number; times: CpuTimes }>;
  processes: number | null;
  running: number | null;
  ctxt: number | null;
}

const WANTED_LINE = /^\s*(?:cpu|processes\s|procs_running\s|ctxt\s)/;

/** Parses /proc/stat; older kernels have fewer columns (no steal before 2.6.11, no guestnice before 2.6.33). */
export function parseProcStat(text: string): ProcStat {
  const out: ProcStat = { total: {}, cpus: [], processes: null, running: null, ctxt: null };
  for (const line of text.split('\n')) {
    // Not split: the intr and softirq lines (one number per interrupt, thousands on a large VM).
    if (!WANTED_LINE.test(line)) continue;
    const f = line.trim().split(/\s+/);
    const m = /^cpu(\d*)$/.exec(f[0]);
    if (m) {
      const times: CpuTimes = {};
      CPU_FIELDS.forEach((name, i) => { if (f[i + 1] !== undefined) times[name] = Number(f[i + 1]); });
      if (m[1] === '') out.total = times; else out.cpus.push({ cpu: Number(m[1]), times });
    } else if (f[0] === 'processes') out.processes = Number(f[1]);
    else if (f[0] === 'procs_running') out.running = Number(f[1]);
    else if (f[0] === 'ctxt') out.ctxt = Number(f[1]);
  }
  return out;
}

export function cpuStats(host: Host): Array<Record<string, unknown>> {
  const s = parseProcStat(host.read('/proc/stat') ?? '');
  return s.cpus.map(({ cpu, times }) => {
    const row: Record<string, unknown> = { type: 'linux', cpu };
    for (const k of CPU_FIELDS) if (times[k] !== undefined) row[k] = times[k]! * (1000 / USER_HZ);
    return row;
  });
}

/** guest-get-vcpus: CPUs that have an "online" file can be taken offline (cpu0 usually cannot). */
export function vcpus(host: Host): Array<{ 'logical-id': number; online: boolean; 'can-offline': boolean }> {
  return host.list('/sys/devices/system/cpu').map((n) => /^cpu(\d+)$/.exec(n)).filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1])).sort((a, b) => a - b).map((id) => {
      const online = host.read(`/sys/devices/system/cpu/cpu${id}/online`);
      return { 'logical-id': id, online: online === null ? true : online.trim() === '1', 'can-offline': online !== null };
    });
}

export interface LoadAvg { load1m: number; load5m: number; load15m: number; runnable: number | null; entities: number | null }

/** "0.12 0.08 0.05 2/345 12345": the averages, then runnable/all scheduling entities. */
export function parseLoadavg(text: string): LoadAvg | null {
  const f = text.trim().split(/\s+/);
  if (f.length < 3) return null;
  const [r, t] = (f[3] ?? '').split('/').map(Number);
  return { load1m: Number(f[0]), load5m: Number(f[1]), load15m: Number(f[2]), runnable: Number.isFinite(r) ? r : null, entities: Number.isFinite(t) ? t : null };
}

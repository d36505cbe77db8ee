// A statistics sample: the latest counters turned into what the dashboard shows, with rates over
// the interval since the previous reading. Counters that went down were reset (reboot, interface
// re-created) or wrapped (32-bit counters of old kernels).

import { CPU_FIELDS, CpuTimes } from '../facts/cpu';
import type { Counters } from './counters';

export interface Sample {
  seq: number;
  time: string;
  interval_ms: number;
  uptime_s: number | null;
  processes: number;
  oom_kills: number | null;
  load: { '1m': number; '5m': number; '15m': number } | null;
  cpu: { total: CpuPercent; per_cpu: Array<CpuPercent & { cpu: number }> } | null;
  memory: Record<string, number | null>;
  filesystems: Array<Record<string, string | number | null>>;
  disks: Array<Record<string, string | number | null>>;
  interfaces: Array<Record<string, string | number | null>>;
}

export interface CpuPercent { user: number; system: number; iowait: number; steal: number; idle: number; nice: number }

const WRAP32 = 2 ** 32;
/**
 * At most this many file systems, disks and interfaces per sample, in the kernel's order (a host
 * with hundreds of container interfaces would otherwise make every stored sample kilobytes).
 */
export const MAX_SERIES = 64;

/** The increase of a counter, or null when it was reset; a 32-bit wrap is undone. */
export function counterDelta(prev: number | undefined, cur: number | undefined): number | null {
  if (prev === undefined || cur === undefined) return null;
  if (cur >= prev) return cur - prev;
  if (prev < WRAP32 && prev > WRAP32 / 2 && cur < WRAP32 / 2) return cur + WRAP32 - prev;
  return null;
}

function rate(prev: number | undefined, cur: number | undefined, seconds: number, scale = 1): number | null {
  const d = counterDelta(prev, cur);
  return d === null || seconds <= 0 ? null : round2((d * scale) / seconds);
}

const round2 = (v: number): number => Math.round(v * 100) / 100;

export function cpuPercent(a: CpuTimes, b: CpuTimes): CpuPercent | null {
  const d: Record<string, number> = {};
  let total = 0;
  for (const k of CPU_FIELDS) {
    if (k === 'guest' || k === 'guestnice') continue; // already counted in user and nice
    const x = counterDelta(a[k], b[k]) ?? 0;
    d[k] = x;
    total += x;
  }
  if (total <= 0) return null;
  const pct = (v: number) => round2((v * 100) / total);
  return {
    user: pct(d.user), nice: pct(d.nice), system: pct(d.system + (d.irq ?? 0) + (d.softirq ?? 0)),
    iowait: pct(d.iowait ?? 0), steal: pct(d.steal ?? 0), idle: pct(d.idle),
  };
}

export function computeSample(prev: Counters | null, cur: Counters, seq: number, wallMs: number): Sample {
  const same = prev !== null && prev.boot === cur.boot;
  const p = same ? prev : null;
  const secs = p ? (cur.at - p.at) / 1000 : 0;
  const mem = cur.mem;
  const available = mem.MemAvailable ?? (mem.MemFree !== undefined ? mem.MemFree + (mem.Buffers ?? 0) + (mem.Cached ?? 0) : null);
  const perCpu = p ? cur.stat.cpus.map((c) => {
    const before = p.stat.cpus.find((x) => x.cpu === c.cpu);
    const pc = before ? cpuPercent(before.times, c.times) : null;
    return pc ? { cpu: c.cpu, ...pc } : null;
  }).filter((x): x is CpuPercent & { cpu: number } => x !== null) : [];
  const total = p ? cpuPercent(p.stat.total, cur.stat.total) : null;
  return {
    seq,
    time: new Date(wallMs).toISOString(),
    interval_ms: p ? Math.round(cur.at - p.at) : 0,
    uptime_s: cur.uptimeS,
    processes: cur.processes,
    oom_kills: cur.oomKills,
    load: cur.loadavg ? { '1m': cur.loadavg.load1m, '5m': cur.loadavg.load5m, '15m': cur.loadavg.load15m } : null,
    cpu: total ? { total, per_cpu: perCpu } : null,
    memory: {
      total_bytes: mem.MemTotal ?? null,
      available_bytes: available,
      used_bytes: mem.MemTotal !== undefined && available !== null ? mem.MemTotal - available : null,
      free_bytes: mem.MemFree ?? null,
      cached_bytes: mem.Cached !== undefined ? mem.Cached + (mem.SReclaimable ?? 0) : null,
      buffers_bytes: mem.Buffers ?? null,
      swap_total_bytes: mem.SwapTotal ?? null,
      swap_free_bytes: mem.SwapFree ?? null,
      swap_used_bytes: mem.SwapTotal !== undefined && mem.SwapFree !== undefined ? mem.SwapTotal - mem.SwapFree : null,
    },
    filesystems: cur.filesystems.slice(0, MAX_SERIES).map(({ mount, usage: u }) => ({
      mountpoint: mount.mountpoint, device: mount.source, type: mount.type,
      size_bytes: u ? u.blocks * u.bsize : null,
      used_bytes: u ? (u.blocks - u.bfree) * u.bsize : null,
      free_bytes: u ? u.bavail * u.bsize : null,
      inodes_total: u ? u.files : null,
      inodes_used: u ? u.files - u.ffree : null,
      inodes_free: u ? u.ffree : null,
    })),
    disks: cur.disks.slice(0, MAX_SERIES).map((d) => {
      const b = p?.disks.find((x) => x.name === d.name)?.stats;
      return {
        name: d.name,
        read_bytes_per_s: rate(b?.['read-sectors'], d.stats['read-sectors'], secs, 512),
        write_bytes_per_s: rate(b?.['write-sectors'], d.stats['write-sectors'], secs, 512),
        reads_per_s: rate(b?.['read-ios'], d.stats['read-ios'], secs),
        writes_per_s: rate(b?.['write-ios'], d.stats['write-ios'], secs),
      };
    }),
    interfaces: [...cur.net].slice(0, MAX_SERIES).map(([name, n]) => {
      const b = p?.net.get(name);
      return {
        name,
        rx_bytes_per_s: rate(b?.rxBytes, n.rxBytes, secs), tx_bytes_per_s: rate(b?.txBytes, n.txBytes, secs),
        rx_packets_per_s: rate(b?.rxPackets, n.rxPackets, secs), tx_packets_per_s: rate(b?.txPackets, n.txPackets, secs),
        rx_errors_per_s: rate(b?.rxErrs, n.rxErrs, secs), tx_errors_per_s: rate(b?.txErrs, n.txErrs, secs),
        rx_drops_per_s: rate(b?.rxDrop, n.rxDrop, secs), tx_drops_per_s: rate(b?.txDrop, n.txDrop, secs),
      };
    }),
  };
}

// One reading of every counter the dashboard needs, from /proc and statfs: no process spawned
// (on Node 16 statfs needs one `stat -f` per file system; see os/host.ts).

import { parseLoadavg, parseProcStat, ProcStat } from '../facts/cpu';
import { DiskStat, localMounts, Mount, parseDiskstats, parseMountinfo } from '../facts/disks';
import { NetDev, parseNetDev } from '../facts/network';
import type { FsUsage, Host } from '../os/host';

export interface MemInfo { [key: string]: number }

/** /proc/meminfo: "MemTotal:  16324452 kB" -> bytes. */
export function parseMeminfo(text: string): MemInfo {
  const out: MemInfo = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+(?:\(\w+\))?):\s+(\d+)(?:\s+kB)?$/.exec(line.trim());
    if (m) out[m[1]] = Number(m[2]) * (line.includes('kB') ? 1024 : 1);
  }
  return out;
}

export function parseVmstatOomKills(text: string): number | null {
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : null;
}

export interface Counters {
  /** Monotonic ms of the reading. */
  at: number;
  boot: string;
  stat: ProcStat;
  mem: MemInfo;
  disks: DiskStat[];
  net: Map<string, NetDev>;
  loadavg: ReturnType<typeof parseLoadavg>;
  uptimeS: number | null;
  processes: number;
  oomKills: number | null;
  filesystems: Array<{ mount: Mount; usage: FsUsage | null }>;
}

/** Whole disks worth a rate: partitions are inside them, loop and ram devices are not disks. */
export function isWholeDisk(host: Host, name: string): boolean {
  return !/^(loop|ram|zram)\d/.test(name) && host.exists(`/sys/block/${name}`);
}

/** How readCounters gets a file's text: host.read, or heldReads for a reader that comes back every minute. */
export type ReadText = (p: string) => string | null;

/** Keeps each file open once read (one pread per file and sample: the sampler reads the same nine). */
export function heldReads(host: Host): ReadText {
  const files = new Map<string, () => string | null>();
  return (p) => {
    let f = files.get(p);
    if (!f) files.set(p, f = host.held(p));
    return f();
  };
}

export async function readCounters(host: Host, now: () => number, read: ReadText = (p) => host.read(p)): Promise<Counters> {
  const mounts = localMounts(parseMountinfo(read('/proc/self/mountinfo') ?? ''));
  // One file system once, even when it is mounted twice.
  const seen = new Set<string>();
  const unique = mounts.filter((m) => { const k = `${m.major}:${m.minor}`; if (seen.has(k)) return false; seen.add(k); return true; });
  const filesystems = await Promise.all(unique.map(async (mount) => ({ mount, usage: await host.usage(mount.mountpoint) })));
  const uptime = read('/proc/uptime');
  return {
    at: now(),
    boot: (read('/proc/sys/kernel/random/boot_id') ?? '').trim(),
    stat: parseProcStat(read('/proc/stat') ?? ''),
    mem: parseMeminfo(read('/proc/meminfo') ?? ''),
    disks: parseDiskstats(read('/proc/diskstats') ?? '').filter((d) => isWholeDisk(host, d.name)),
    net: parseNetDev(read('/proc/net/dev') ?? ''),
    loadavg: parseLoadavg(read('/proc/loadavg') ?? ''),
    uptimeS: uptime ? Number(uptime.split(' ')[0]) : null,
    processes: host.list('/proc').filter((n) => /^\d+$/.test(n)).length,
    oomKills: parseVmstatOomKills(read('/proc/vmstat') ?? ''),
    filesystems,
  };
}

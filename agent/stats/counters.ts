// One reading of every counter the dashboard needs, from /proc and statfs: no process spawned
// (on Node 16 statfs needs one `stat -f` per file system; see os/host.ts).

import { parseLoadavg, parseProcStat, ProcStat } from '../facts/cpu';
import { DiskStat, localMounts, Mount, parseDiskstats, parseMountinfo } from '../facts/disks';
import { NetDev, parseNetDev } from '../facts/network';
import type { FsUsage, Host } from '../os/host';

export interface MemInfo { [key: string]: number }

// A line of /proc/meminfo (blanks around it allowed): one regular expression over the whole text,
// not a split, trim and match per line, which cost 0.15 ms of a sample run once a minute.
const MEMINFO_LINE = /^[^\S\n]*(\w+(?:\(\w+\))?):[^\S\n]+(\d+)(?:[^\S\n]+kB)?[^\S\n]*$/gm;

/** /proc/meminfo: "MemTotal:  16324452 kB" -> bytes. */
export function parseMeminfo(text: string): MemInfo {
  const out: MemInfo = {};
  MEMINFO_LINE.lastIndex = 0;
  for (let m; (m = MEMINFO_LINE.exec(text));) out[m[1]] = Number(m[2]) * (m[0].includes('kB') ? 1024 : 1);
  return out;
}

/** The meminfo fields a sample uses. */
const SAMPLE_MEMINFO = ['MemTotal', 'MemFree', 'MemAvailable', 'Buffers', 'Cached', 'SReclaimable', 'SwapTotal', 'SwapFree'];

/**
 * KEYS of /proc/meminfo, each found by a string search for its line: parseMeminfo's regular
 * expression over all 50-odd lines cost 0.1 ms of a sample run cold once a minute.
 */
export function meminfoFields(text: string, keys: readonly string[] = SAMPLE_MEMINFO): MemInfo {
  const out: MemInfo = {};
  for (const k of keys) {
    // After a newline, or at the very start (where indexOf finds none: -1 + 1).
    const at = text.indexOf(`\n${k}:`) + 1;
    if (at === 0 && !text.startsWith(`${k}:`)) continue;
    const end = text.indexOf('\n', at);
    const value = text.slice(at + k.length + 1, end < 0 ? text.length : end);
    const n = parseInt(value, 10);
    if (n >= 0) out[k] = n * (value.includes('kB') ? 1024 : 1);
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

/**
 * isWholeDisk, looked up once per name: a name stays a disk or a partition (vda, vda1, nvme0n1p2),
 * so a sample needs no stat per /proc/diskstats line.
 */
const wholeDisks = new WeakMap<Host, Map<string, boolean>>();
function isWholeDiskKnown(host: Host, name: string): boolean {
  let known = wholeDisks.get(host);
  if (!known) wholeDisks.set(host, known = new Map());
  let whole = known.get(name);
  if (whole === undefined) {
    if (known.size >= 1024) known.clear();
    known.set(name, whole = isWholeDisk(host, name));
  }
  return whole;
}

/** How readCounters gets a file's text: host.read, or heldReads for a reader that comes back every minute. */
export type ReadText = (p: string) => string | null;

const BOOT_ID = '/proc/sys/kernel/random/boot_id';

/**
 * Each file read through the host's held descriptor (host.readProc: one pread per file and sample,
 * the same descriptor the network commands read /proc/net/dev through). The boot id is read once:
 * it cannot change while this process runs (a new boot is a new process).
 */
export function heldReads(host: Host): ReadText {
  let boot: string | null = null;
  return (p) => (p === BOOT_ID ? (boot ??= host.read(p)) : host.readProc(p));
}

// The last mountinfo text and its local file systems, one of each mounted twice: mounts change
// rarely, and parsing the text again cost 0.2 ms of a sample (the string compare costs microseconds).
let mountText: string | null = null;
let mountList: Mount[] = [];
function uniqueLocalMounts(text: string): Mount[] {
  if (text === mountText) return mountList;
  const seen = new Set<string>();
  mountList = localMounts(parseMountinfo(text)).filter((m) => { const k = `${m.major}:${m.minor}`; if (seen.has(k)) return false; seen.add(k); return true; });
  mountText = text;
  return mountList;
}

export async function readCounters(host: Host, now: () => number, read: ReadText = (p) => host.read(p)): Promise<Counters> {
  const unique = uniqueLocalMounts(read('/proc/self/mountinfo') ?? '');
  const filesystems = await Promise.all(unique.map(async (mount) => ({ mount, usage: await host.usage(mount.mountpoint) })));
  const uptime = read('/proc/uptime');
  return {
    at: now(),
    boot: (read(BOOT_ID) ?? '').trim(),
    stat: parseProcStat(read('/proc/stat') ?? ''),
    mem: meminfoFields(read('/proc/meminfo') ?? ''),
    disks: parseDiskstats(read('/proc/diskstats') ?? '').filter((d) => isWholeDiskKnown(host, d.name)),
    net: parseNetDev(read('/proc/net/dev') ?? ''),
    loadavg: parseLoadavg(read('/proc/loadavg') ?? ''),
    uptimeS: uptime ? Number(uptime.split(' ')[0]) : null,
    processes: host.list('/proc').filter((n) => /^\d+$/.test(n)).length,
    oomKills: parseVmstatOomKills(read('/proc/vmstat') ?? ''),
    filesystems,
  };
}

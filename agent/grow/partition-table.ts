// The partition table as `sfdisk --json` prints it, and the decision growpart makes: a partition
// is grown only when it is the last one on its disk (nothing starts after it) and the disk has
// room after it: up to the backup GPT (16 KiB of entries and a header sector at the disk's end),
// or for MBR to the disk's end, at most 2^32 sectors. Logical partitions (MBR, inside an
// extended one) are refused. Pure: sector numbers in, a plan out. Sectors are 512 bytes here,
// as in sysfs; the table's own unit (its logical sector size) is converted.

export interface TableEntry { start: number; sectors: number; type: string }

export interface PartitionTable { label: string; sectorSize: number; entries: TableEntry[] }

export type Plan =
  | { action: 'grow'; freeSectors: number }
  | { action: 'none'; desc: string }
  /** The table already has the partition grown (an earlier run stopped before telling the kernel). */
  | { action: 'refresh'; desc: string }
  | { action: 'refuse'; desc: string };

/** Partitions smaller than this after the disk grew (alignment slack) are not worth a change. */
export const MIN_GROWTH_SECTORS = 2048;

export function parseSfdiskJson(text: string): PartitionTable | null {
  let t: { label?: unknown; sectorsize?: unknown; partitions?: unknown };
  try { t = (JSON.parse(text) as { partitiontable?: typeof t }).partitiontable ?? {}; } catch { return null; }
  const ss = typeof t.sectorsize === 'number' ? t.sectorsize : 512;
  if (typeof t.label !== 'string' || ss % 512 !== 0 || ss === 0) return null;
  const parts = Array.isArray(t.partitions) ? t.partitions as Array<Record<string, unknown>> : [];
  const f = ss / 512;
  return {
    label: t.label,
    sectorSize: ss,
    entries: parts.map((p) => ({ start: Number(p.start) * f, sectors: Number(p.size) * f, type: String(p.type ?? '') })),
  };
}

const EXTENDED = new Set(['5', 'f', '85']);

export function partitionPlan(t: PartitionTable, part: { number: number; start: number; sectors: number }, disk: { node: string; sectors: number }): Plan {
  const n = part.number;
  if (t.label !== 'gpt' && t.label !== 'dos') return { action: 'refuse', desc: `the partition table of ${disk.node} is of type '${t.label}': only GPT and MBR (dos) partitions are grown` };
  if (t.label === 'dos' && n > 4) return { action: 'refuse', desc: `partition ${n} of ${disk.node} is a logical partition inside an extended one: growing the extended partition around it is not done (only primary MBR partitions are grown)` };
  const mine = t.entries.find((e) => e.start === part.start);
  if (!mine) return { action: 'refuse', desc: `the partition table of ${disk.node} has no partition starting at sector ${part.start}, where the kernel has partition ${n}: the kernel's view is stale (partx -u ${disk.node})` };
  if (t.label === 'dos' && EXTENDED.has(mine.type.toLowerCase())) return { action: 'refuse', desc: `partition ${n} of ${disk.node} is an extended partition` };
  const after = t.entries.filter((e) => e.start > part.start).sort((a, b) => a.start - b.start)[0];
  if (after) return { action: 'refuse', desc: `partition ${n} is not the last on ${disk.node}: another partition starts at sector ${after.start} after it (growing it would mean moving that one)` };
  const ss = t.sectorSize / 512;
  // GPT keeps a backup of its header and entries at the disk's end; MBR counts sectors in 32 bits.
  const maxEnd = t.label === 'gpt' ? disk.sectors - (16384 + t.sectorSize) / 512 : Math.min(disk.sectors, 2 ** 32 * ss);
  const free = maxEnd - (part.start + mine.sectors);
  if (free < MIN_GROWTH_SECTORS && mine.sectors > part.sectors) return { action: 'refresh', desc: `partition ${n} of ${disk.node} is ${mine.sectors} sectors in the table but ${part.sectors} in the kernel` };
  if (free < MIN_GROWTH_SECTORS) return { action: 'none', desc: `partition ${n} already reaches the end of ${disk.node} (${Math.max(free, 0)} sectors of 512 bytes free after it)` };
  return { action: 'grow', freeSectors: free };
}

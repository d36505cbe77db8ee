// Small readers of /proc and cgroup files the supervisor needs. Synchronous on purpose: each is
// one small read, done at most once per heartbeat, and a sync read costs no event-loop wakeup.

import * as fs from 'fs';

function readText(path: string): string | null {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

export function bootId(): string {
  return (readText('/proc/sys/kernel/random/boot_id') ?? '').trim();
}

/** Resident and anonymous memory of a process in KiB, from /proc/PID/statm (anon ≈ resident - shared). */
export function processMemory(pid: number): { rssKb: number; anonKb: number } | null {
  const t = readText(`/proc/${pid}/statm`);
  if (!t) return null;
  const [, resident, shared] = t.split(' ').map(Number);
  const page = 4;
  return { rssKb: resident * page, anonKb: Math.max(0, resident - shared) * page };
}

/** Pss_Anon in KiB from /proc/PID/smaps_rollup: memory the kernel can never drop without swap. */
export function pssAnonKb(pid: number): number | null {
  const t = readText(`/proc/${pid}/smaps_rollup`);
  const m = t && /^Pss_Anon:\s+(\d+) kB/m.exec(t);
  return m ? Number(m[1]) : null;
}

/** Process start time in clock ticks since boot (field 22 of /proc/PID/stat): tells a pid from its reuse. */
export function processStartTime(pid: number): number | null {
  const t = readText(`/proc/${pid}/stat`);
  if (!t) return null;
  const fields = t.slice(t.lastIndexOf(')') + 2).split(' ');
  const v = Number(fields[19]);
  return Number.isFinite(v) ? v : null;
}

function counter(text: string | null, name: string): number {
  const m = text && new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * The files that count OOM kills in the memory cgroup PID is in: cgroup v2 memory.events or v1
 * memory.oom_control. Kept by the caller, since they can no longer be found once PID is gone.
 */
export function oomCounterFiles(pid: number): string[] {
  const files: string[] = [];
  for (const line of (readText(`/proc/${pid}/cgroup`) ?? '').split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path === undefined) continue;
    if (controllers.split(',').includes('memory')) files.push(`/sys/fs/cgroup/memory${path}/memory.oom_control`);
    else if (controllers === '') files.push(`/sys/fs/cgroup${path}/memory.events`, `/sys/fs/cgroup/unified${path}/memory.events`);
  }
  return files.filter((f) => fs.existsSync(f));
}

/** The oom_kill count in one of those files (0 when unreadable). */
export function cgroupOomKills(file: string): number {
  return counter(readText(file), 'oom_kill');
}

/**
 * OOM kills on the whole system (/proc/vmstat). It also moves for other processes' OOM kills, so
 * it is only a hint, over a short window, when no cgroup count is available.
 */
export function systemOomKills(): number {
  return counter(readText('/proc/vmstat'), 'oom_kill');
}

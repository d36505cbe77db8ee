// Small readers of /proc and cgroup files the supervisor needs. Synchronous on purpose: each is
// one small read, done at most once per heartbeat, and a sync read costs no event-loop wakeup.

import fs = require('fs');

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

/**
 * A /proc or sysfs file held open and read again from its start at each call: one pread per
 * heartbeat instead of open, read, read and close (the kernel writes the text anew at offset 0).
 * Null while it cannot be read; an absent file is looked for again (an RTC driver loaded late),
 * at every sixth read, a closed one never (a process's files, whose pid may be reused).
 */
export function heldFile(path: string): HeldFile {
  let fd = -1;
  let closed = false;
  let misses = 0;
  const buf = Buffer.alloc(256);
  return {
    read() {
      // An absent file is looked for at every sixth read (a minute at the default interval): on a
      // VM without an RTC, a look at each beat was a syscall and fs's path checks each time.
      if (fd < 0 && !closed && misses++ % 6 === 0) try { fd = fs.openSync(path, 'r'); } catch { /* absent or not readable */ }
      try { return fd < 0 ? null : buf.toString('latin1', 0, fs.readSync(fd, buf, 0, 256, 0)); } catch { return null; }
    },
    close() {
      closed = true;
      if (fd >= 0) fs.closeSync(fd);
      fd = -1;
    },
  };
}

export interface HeldFile {
  read(): string | null;
  close(): void;
}

/** Resident and anonymous memory in KiB from the text of /proc/PID/statm (anon ≈ resident - shared). */
export function statmMemory(t: string | null): { rssKb: number; anonKb: number } | null {
  if (!t) return null;
  // "size resident shared ...", in pages: parseInt stops at the space after each number.
  const r = t.indexOf(' ') + 1;
  const resident = parseInt(t.slice(r));
  const shared = parseInt(t.slice(t.indexOf(' ', r) + 1));
  const page = 4;
  return { rssKb: resident * page, anonKb: Math.max(0, resident - shared) * page };
}

/** The text of /proc/PID/wchan says the main thread sleeps in epoll_wait (do_epoll_wait, or ep_poll before Linux 4.x). */
export function sleepsInEpoll(wchan: string | null): boolean {
  // Two string searches, not a regular expression: less cold code to run at each beat.
  return !!wchan && (wchan.includes('epoll') || wchan.includes('ep_poll'));
}

/** Wall clock minus the RTC in seconds from the text of since_epoch (whole seconds), or null without an RTC. */
export function rtcOffset(sinceEpoch: string | null): number | null {
  const rtc = Number(sinceEpoch);
  return rtc > 0 ? Date.now() / 1000 - rtc : null;
}

/** Pss_Anon in KiB from /proc/PID/smaps_rollup: memory the kernel can never drop without swap. */
export function pssAnonKb(pid: number): number | null {
  const t = readText(`/proc/${pid}/smaps_rollup`);
  const m = t && /^Pss_Anon:\s+(\d+) kB/m.exec(t);
  return m ? Number(m[1]) : null;
}

/** Field N of /proc/PID/stat (numbered from 1 as in proc(5); N > 2, after the command name). */
function statField(pid: number, n: number): string | null {
  const t = readText(`/proc/${pid}/stat`);
  return t ? t.slice(t.lastIndexOf(')') + 2).split(' ')[n - 3] ?? null : null;
}

/** Process start time in clock ticks since boot (field 22 of /proc/PID/stat): tells a pid from its reuse. */
export function processStartTime(pid: number): number | null {
  const v = Number(statField(pid, 22) ?? NaN);
  return Number.isFinite(v) ? v : null;
}

/** The value of a "name N" line, null without one. */
function counter(text: string | null, name: string): number | null {
  const m = text && new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
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
    // v2 only where it has the memory controller: never at /sys/fs/cgroup/unified (hybrid: v1 has it).
    else if (controllers === '') files.push(`/sys/fs/cgroup${path}/memory.events`);
  }
  return files.filter((f) => fs.existsSync(f));
}

/** The oom_kill count in one of those files (0 when unreadable). */
export function cgroupOomKills(file: string): number {
  return counter(readText(file), 'oom_kill') ?? 0;
}

/**
 * Whether the cgroup of FILE holds only the supervisor and the process group of WORKER, so its
 * count is evidence about the worker (under systemd: the service's own cgroup, which has no
 * sub-cgroups whose kills it would count too); a cgroup shared with other programs is not.
 */
export function cgroupIsOurs(file: string, worker: number): boolean {
  const procs = (readText(`${file.slice(0, file.lastIndexOf('/'))}/cgroup.procs`) ?? '').match(/\d+/g) ?? [];
  // Field 5 is the process group: the worker leads its own, with what it spawned.
  return procs.length > 0 && procs.every((p) => +p === process.pid || statField(+p, 5) === `${worker}`);
}

/**
 * OOM kills of any kind on the whole machine (oom_kill in /proc/vmstat, since Linux 4.13; null
 * before). The kernel counts a kill before it sends the SIGKILL and logs it.
 */
export function systemOomKills(vmstat = readText('/proc/vmstat')): number | null {
  return counter(vmstat, 'oom_kill');
}

/**
 * Whether the kernel log holds the OOM killer's "Killed process PID (phoenix-ga-work)" line for
 * our worker's pid. Read only after an unexplained SIGKILL when the machine saw an OOM kill since the
 * spawn: one read per record, 8-25 ms for a 2,300-record log, more on a long-running server.
 */
export function kernelLogNamesOomKill(pid: number): boolean {
  let fd: number;
  // Read-only (O_RDONLY is 0) and non-blocking: EAGAIN at the end of the log.
  try { fd = fs.openSync('/dev/kmsg', fs.constants.O_NONBLOCK); } catch { return false; }
  const line = `Killed process ${pid} (phoenix-ga-work)`;
  const buf = Buffer.alloc(8192);
  let found = false;
  // One record per read; EPIPE: records were overwritten while we read.
  for (let i = 0; i < 100_000 && !found; i++) {
    try { found = buf.toString('latin1', 0, fs.readSync(fd, buf, 0, 8192, null)).includes(line); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EPIPE') break; }
  }
  fs.closeSync(fd);
  return found;
}

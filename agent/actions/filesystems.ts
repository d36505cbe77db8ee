// guest-fstrim and guest-fsfreeze-*. A frozen file system blocks every writer, including this
// agent's own journal and log, so while frozen only the freeze-safe commands run (as qemu-ga),
// the supervisor stops writing its log, and a deadline thaws everything if the host never does
// (qemu-ga on Linux has none); the supervisor also thaws if the worker dies while frozen. That
// guarantee needs the supervisor's record of the freeze, so nothing freezes before it is durable.

import { localMounts, parseMountinfo } from '../facts/disks';
import type { Host } from '../os/host';
import type { System } from '../os/system';
import { QgaError } from '../wire/reply';

export const FREEZE_SAFE = new Set(['guest-ping', 'guest-info', 'guest-sync', 'guest-sync-delimited', 'guest-fsfreeze-status', 'guest-fsfreeze-thaw', 'phoenix-agent-status', 'phoenix-capabilities']);

export function mountpoints(host: Host): string[] {
  return [...new Set(localMounts(parseMountinfo(host.read('/proc/self/mountinfo') ?? ''), host).map((m) => m.mountpoint))];
}

export async function fstrim(sys: System, host: Host, minimum: number | undefined): Promise<{ paths: Array<Record<string, unknown>> }> {
  const tool = sys.which('fstrim');
  const paths: Array<Record<string, unknown>> = [];
  for (const mp of mountpoints(host)) {
    if (!tool) { paths.push({ path: mp, error: "cannot find 'fstrim' program" }); continue; }
    const r = await sys.run(tool, ['-v', ...(minimum !== undefined ? ['-m', String(minimum)] : []), mp], { timeoutMs: 600_000 });
    const m = /\((\d+) bytes\) trimmed|: (\d+) bytes? (?:\([^)]*\) )?trimmed/.exec(r.stdout);
    if (r.code === 0 && m) paths.push({ path: mp, trimmed: Number(m[1] ?? m[2]), minimum: minimum ?? 0 });
    else paths.push({ path: mp, error: (r.stderr || r.stdout).trim().replace(/\s+/g, ' ').slice(0, 300) || `fstrim exit ${r.code}` });
  }
  return { paths };
}

export interface Freezer {
  status(): 'thawed' | 'frozen';
  freeze(list: string[] | undefined): Promise<number>;
  thaw(): Promise<number>;
}

export function createFreezer(o: {
  sys: System; host: Host; timeoutMs: number;
  /** Non-empty: resolves once the supervisor holds a durable record of the freeze, rejects when not. */
  onChange(frozen: string[], deadlineMs: number | null): void | Promise<void>;
}): Freezer {
  let frozen: string[] = [];
  let timer: NodeJS.Timeout | null = null;
  // A second freeze (another connection) while the first waits for the supervisor or fsfreeze.
  let freezing = false;
  const tool = (): string => o.sys.which('fsfreeze') ?? (() => { throw new QgaError('GenericError', "cannot find 'fsfreeze' program"); })();
  const thawAll = async (): Promise<number> => {
    let n = 0;
    const errors: string[] = [];
    for (const mp of [...frozen].reverse()) {
      const r = await o.sys.run(tool(), ['-u', mp], { timeoutMs: 30_000 });
      if (r.code === 0) n++; else errors.push(`${mp}: ${r.stderr.trim().slice(0, 200)}`);
    }
    frozen = [];
    if (timer) clearTimeout(timer);
    timer = null;
    o.onChange([], null);
    if (errors.length) throw new QgaError('GenericError', `thaw failed for ${errors.join('; ')}`);
    return n;
  };
  return {
    status: () => (frozen.length ? 'frozen' : 'thawed'),
    async freeze(list) {
      if (frozen.length || freezing) throw new QgaError('GenericError', 'the file systems are already frozen');
      freezing = true;
      try { return await freezeAll(list); } finally { freezing = false; }
    },
    thaw: () => (frozen.length ? thawAll() : Promise.resolve(0)),
  };

  async function freezeAll(list: string[] | undefined): Promise<number> {
    const known = mountpoints(o.host);
    const targets = list ?? known;
    for (const mp of targets) if (!known.includes(mp)) throw new QgaError('GenericError', `Parameter 'mountpoints' names '${mp.slice(0, 200)}', which is not a local file system mount point`);
    const fsfreeze = tool();
    // The supervisor first: it records the freeze (so it can thaw if we die) and stops its log.
    const deadlineMs = Date.now() + o.timeoutMs;
    try {
      await o.onChange(targets, deadlineMs);
    } catch (e) {
      throw new QgaError('GenericError', `the file systems were not frozen: the supervisor could not record the freeze (${e instanceof QgaError ? e.desc : 'error'})`);
    }
    for (const mp of targets) {
      const r = await o.sys.run(fsfreeze, ['-f', mp], { timeoutMs: 60_000 });
      if (r.code !== 0) {
        const why = r.stderr.trim().slice(0, 200);
        // Thaws what froze, and takes the record back (also when nothing froze).
        await thawAll().catch(() => undefined);
        throw new QgaError('GenericError', `failed to freeze ${mp}: ${why}`);
      }
      frozen.push(mp);
    }
    timer = setTimeout(() => { void thawAll().catch(() => undefined); }, o.timeoutMs);
    return frozen.length;
  }
}

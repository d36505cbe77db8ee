// phoenix-get-stats: the dashboard's data from the sampler's history, read with a cursor so a
// panel that polled late loses nothing within the history window.

import { QgaError } from '../wire/reply';
import { command } from './command';
import { int, object, optional, str } from './schema';

/**
 * A reply carries at most this much sample JSON (past its first sample): a panel catching up on a
 * long history gets it in pages of about a millisecond each, so no other request waits; and each
 * page stays below V8's large-object size (bigger strings cost a mapping each, 3-4x the time).
 */
export const PAGE_BYTES = 64 * 1024;

export const statsCommands = [
  command({
    name: 'phoenix-get-stats',
    description: 'Statistics samples (CPU with steal, memory, load, uptime, file systems with inodes, disk and network rates, OOM kills, processes) newer than the cursor `since`.',
    args: object({
      since: optional(int({ min: 0, doc: 'sequence number of the last sample the panel has' })),
      boot: optional(str({ maxLength: 64, doc: 'boot id that came with that cursor' })),
      max: optional(int({ min: 1, max: 10_000, doc: 'at most this many samples (default 1000; a reply also stops at 64 KiB of samples)' })),
    }),
    run: async (a, ctx) => {
      const h = ctx.stats.history;
      if (a.boot !== undefined && a.boot !== h.boot) {
        throw new QgaError('GenericError', `Parameter 'boot' names a previous boot (${a.boot.slice(0, 64)}); the server has rebooted since (boot ${h.boot}): ask again without 'since'`);
      }
      const last = h.last() ?? 0;
      if (a.since !== undefined && a.since > last) {
        throw new QgaError('GenericError', `Parameter 'since' is ahead of the history: ${a.since} > ${last}, the last sample of boot ${h.boot}`);
      }
      const since = a.since ?? 0;
      const page = h.page(since, a.max ?? 1000, PAGE_BYTES);
      const first = h.first();
      const lost = a.since !== undefined && first !== null && first > since + 1 ? first - since - 1 : 0;
      const out: Record<string, unknown> = {
        boot: h.boot,
        interval_ms: ctx.stats.sampler.intervalMs(),
        history: { size: h.size(), capacity: h.capacity(), first_seq: first, last_seq: last || null },
        lost,
        samples: page.samples,
        // Newer samples than these remain: ask again with since = the last seq of this page.
        more: page.last !== null && page.last < last,
        // What the last sample cost the worker: CPU time, and processes spawned (0 where statfs exists).
        cost: ctx.stats.sampler.lastCost(),
      };
      // A history that is still empty (the first seconds after boot): a sample of now instead.
      if (page.count === 0 && h.size() === 0) {
        out.current = await ctx.stats.sampler.current();
      }
      return out;
    },
  }),
  command({
    name: 'phoenix-set-stats',
    description: 'Set the sampling interval (seconds) and the history size (samples); kept across worker restarts.',
    args: object({
      interval: optional(int({ min: 1, max: 3600, doc: 'seconds between samples (1..3600)' })),
      history: optional(int({ min: 10, max: 10_000, doc: 'samples kept (10..10000)' })),
    }),
    run: (a, ctx) => ctx.stats.configure({ intervalMs: a.interval !== undefined ? a.interval * 1000 : undefined, capacity: a.history }),
  }),
];

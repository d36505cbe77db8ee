// The protocol's own commands: sync, ping, info, and the supervisor's view.

import type * as v8 from 'v8';
import { RawJson, writeJson } from '../wire/json-write';
import { command, CommandContext } from './command';
import { int64, noArgs, object } from './schema';

/** guest-info's reply, serialized once per context: the dispatcher makes a new context when the allow/block lists change. */
const infos = new WeakMap<CommandContext, RawJson>();

export const protocolCommands = [
  command({
    name: 'guest-sync',
    description: 'Echo the id: the host drops everything until this reply to resynchronise the stream.',
    args: object({ id: int64() }),
    run: (a) => a.id,
  }),
  command({
    name: 'guest-sync-delimited',
    description: 'Like guest-sync, with the byte 0xFF sent before the reply.',
    args: object({ id: int64() }),
    delimited: true,
    run: (a) => a.id,
  }),
  command({
    name: 'guest-ping',
    description: 'Answer {} when the agent is serving.',
    args: noArgs,
    run: () => ({}),
  }),
  command({
    name: 'guest-info',
    description: 'The agent version and every command with whether it is enabled.',
    args: noArgs,
    run: (_a, ctx) => {
      let info = infos.get(ctx);
      if (!info) {
        info = new RawJson(writeJson({
          version: ctx.config.version,
          supported_commands: ctx.commands.map((c) => ({
            enabled: ctx.isEnabled(c.name),
            name: c.name,
            'success-response': c.successResponse !== false,
          })),
        }));
        infos.set(ctx, info);
      }
      return info;
    },
  }),
  command({
    name: 'phoenix-agent-status',
    description: "The supervisor's view: worker state, restarts and last exit reasons, memory of both processes, channel and heartbeat; `cloned: true` when this start found the machine to be a clone or a new instance, and `identity`: the instance id, which identity sources are readable, the last change found and what became of the machine-id and SSH host key regeneration.",
    args: noArgs,
    run: async (_a, ctx) => {
      // First: a worker that has not yet checked its identity tells the supervisor (cloned) before it answers.
      const identity = ctx.identity();
      const { settings: _settings, ...view } = (await ctx.supervisor.status()) as { worker?: Record<string, unknown>; settings?: unknown };
      // What only the worker knows: its V8 heap and its cap (worker-heap-mb).
      const h = (require('v8') as typeof v8).getHeapStatistics();
      if (view.worker) Object.assign(view.worker, { heap_used_kb: Math.round(h.used_heap_size / 1024), heap_limit_kb: Math.round(h.heap_size_limit / 1024) });
      return { ...view, identity };
    },
  }),
];

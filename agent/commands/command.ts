// What a command is: declared once (name, arguments, reply behaviour, one-line description) with
// one handler signature. guest-info and the reference in docs/commands.md come from these.

import type { WorkerConfig } from '../../supervisor/ipc';
import type { createExec } from '../actions/exec';
import type { FileHandles } from '../actions/file-handles';
import type { NetworkTransactions } from '../actions/network-transaction';
import type { Freezer } from '../actions/filesystems';
import type { JournalProblem } from '../journal/journal-file';
import type { Host } from '../os/host';
import type { System } from '../os/system';
import type { StatsService } from '../stats/service';
import type { SupervisorLink } from '../supervisor-link';
import type { Schema } from './schema';

export interface CommandContext {
  config: WorkerConfig;
  supervisor: SupervisorLink;
  host: Host;
  sys: System;
  stats: StatsService;
  freezer: Freezer;
  exec: ReturnType<typeof createExec>;
  files: FileHandles;
  network: NetworkTransactions;
  /** Why the journal takes no records now (read-only, full), or null. */
  journal(): JournalProblem | null;
  /** Whether this is the machine the agent ran on before (agent/identity/), for phoenix-agent-status. */
  identity(): Record<string, unknown>;
  /** Every command of this worker, for guest-info. */
  commands: readonly Command<never>[];
  isEnabled(name: string): boolean;
}

export interface Command<A> {
  name: string;
  description: string;
  args: Schema<A>;
  /** False for commands that do not reply when they succeed (guest-shutdown in qemu-ga). */
  successResponse?: boolean;
  /** The reply is preceded by the 0xFF byte (guest-sync-delimited). */
  delimited?: boolean;
  /** Changes the server: serialized, and exactly once with an `idempotency-key` argument. */
  mutating?: boolean;
  /** Arguments left out of the journal's digest (and of everything else). */
  secret?: string[];
  /** Finishes by rebooting: in flight when the boot changed means it succeeded. */
  completesByReboot?: boolean;
  run(args: A, ctx: CommandContext): unknown | Promise<unknown>;
}

/** Declares a command; keeps the handler's argument type tied to its schema. */
export function command<A>(c: Command<A>): Command<never> {
  return c as unknown as Command<never>;
}

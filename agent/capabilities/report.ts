// phoenix-capabilities: every command with whether it can work here and, when not, why, so a
// panel greys out the right buttons with the right tooltip. Cheap: access(2), stat and statfs,
// sysfs reads; no tool is run. `enabled` is false when the command would fail as a panel sends it
// (mutating commands with an idempotency key, which need the journal).

import fs = require('fs');
import { FREEZE_SAFE } from '../actions/filesystems';
import type { CommandContext } from '../commands/command';
import { freeSpace, writeProblem } from '../os/probe';
import { Facts, NEEDS, Reason } from './needs';

export interface Capability { name: string; enabled: boolean; reasons?: Reason[] }

export interface Capabilities {
  commands: Capability[];
  frozen: boolean;
  /** The system tree the agent changes files in: writable, read-only or full. */
  root: 'writable' | 'read-only' | 'full';
  journal: Reason | null;
}

/** Below this much room, writing a file under the root is reported as impossible. */
const MIN_FREE_BYTES = 64 << 10;

async function rootProblem(ctx: CommandContext): Promise<Reason | null> {
  const etc = ctx.sys.at('/etc');
  const code = writeProblem(etc);
  if (code === 'EROFS') return { kind: 'read-only-root', desc: `the root file system is read-only (${ctx.sys.root === '/' ? '/etc' : etc}: EROFS)` };
  const free = await freeSpace(etc);
  if (free && (free.bytes < MIN_FREE_BYTES || free.inodes === 0)) {
    return { kind: 'no-space', desc: `the root file system is full (${free.bytes} bytes${free.inodes === 0 ? ', no inodes' : ''} left)` };
  }
  return null;
}

function procMounted(): boolean {
  try { return fs.statSync('/proc/self/fd').isDirectory() && fs.readlinkSync('/proc/self/exe') !== ''; } catch { return false; }
}

function configReason(ctx: CommandContext): Reason {
  return ctx.config.allowRpcs
    ? { kind: 'config', desc: 'disabled by the configuration: not in allow-rpcs' }
    : { kind: 'config', desc: 'disabled by the configuration: listed in block-rpcs' };
}

export async function capabilities(ctx: CommandContext): Promise<Capabilities> {
  const root = await rootProblem(ctx);
  const facts: Facts = {
    sys: ctx.sys,
    which: (t) => ctx.sys.which(t),
    root,
    proc: procMounted(),
    exists: (p) => ctx.host.exists(p),
    hostnameProblem: writeProblem('/proc/sys/kernel/hostname'),
  };
  const frozen = ctx.freezer.status() === 'frozen';
  const j = ctx.journal();
  const journal: Reason | null = j ? { kind: 'journal', desc: `refused with an idempotency key (as the panel sends it): the journal is ${j.state === 'error' ? 'unusable' : j.state} (${j.reason}); without a key it runs` } : null;
  const commands = ctx.commands.map((c): Capability => {
    const reasons: Reason[] = [];
    if (!ctx.isEnabled(c.name)) reasons.push(configReason(ctx));
    if (frozen && !FREEZE_SAFE.has(c.name)) reasons.push({ kind: 'frozen', desc: 'the file systems are frozen (guest-fsfreeze-thaw first)' });
    if (c.mutating && journal) reasons.push(journal);
    for (const need of NEEDS[c.name] ?? []) {
      const r = need(facts);
      if (r) reasons.push(r);
    }
    return reasons.length ? { name: c.name, enabled: false, reasons } : { name: c.name, enabled: true };
  });
  return { commands, frozen, root: root?.kind === 'read-only-root' ? 'read-only' : root ? 'full' : 'writable', journal };
}

// guest-suspend-disk/-ram/-hybrid, as qemu-ga: `systemctl hibernate|suspend|hybrid-sleep` where
// systemd runs, else pm-utils (pm-hibernate, pm-suspend, pm-suspend-hybrid), else writing
// /sys/power/state; no reply when it works. First, unlike qemu-ga, the kernel is asked whether it
// can do the mode at all (/sys/power/state, and /sys/power/disk for hybrid): qemu-ga answers
// nothing, as if it had worked, where systemctl exists but cannot suspend; we say why not.

import fs = require('fs');
import type { System } from '../os/system';
import { QgaError } from '../wire/reply';
import { errCode, strerror } from './errno';

export type SuspendMode = 'disk' | 'ram' | 'hybrid';

export interface SuspendFacts {
  /** /sys/power/state and /sys/power/disk, null when unreadable. */
  state: string | null;
  disk: string | null;
  systemd: boolean;
  tools: Partial<Record<string, string>>;
}

export type SuspendPlan = { run: string; args: string[]; name: string } | { write: string } | { error: string };

const VERB: Record<SuspendMode, string> = { disk: 'hibernate', ram: 'suspend', hybrid: 'hybrid-sleep' };
const PM: Record<SuspendMode, string> = { disk: 'pm-hibernate', ram: 'pm-suspend', hybrid: 'pm-suspend-hybrid' };
const NOT_SUPPORTED = 'the requested suspend mode is not supported by the guest';

export function suspendFacts(sys: System, mode: SuspendMode): SuspendFacts {
  const tools: SuspendFacts['tools'] = {};
  for (const t of ['systemctl', PM[mode]]) { const p = sys.which(t); if (p) tools[t] = p; }
  return {
    state: sys.readText('/sys/power/state'),
    disk: sys.readText('/sys/power/disk'),
    // sd_booted(3): systemd is the init system when this directory exists.
    systemd: fs.existsSync(sys.at('/run/systemd/system')),
    tools,
  };
}

/** What to run for MODE on a guest with these facts, or why it cannot suspend. A pure function. */
export function suspendPlan(mode: SuspendMode, f: SuspendFacts): SuspendPlan {
  const offered = (f.state ?? '').trim().split(/\s+/).filter(Boolean);
  const diskModes = (f.disk ?? '').replace(/[[\]]/g, '').trim().split(/\s+/).filter(Boolean);
  const where = f.state === null ? '/sys/power/state cannot be read' : offered.length ? `/sys/power/state offers '${offered.join(' ')}'` : '/sys/power/state offers no sleep state';
  if (mode === 'ram' && !offered.includes('mem')) return { error: `${NOT_SUPPORTED}: ${where}, suspend to RAM needs 'mem'` };
  if (mode !== 'ram' && !offered.includes('disk')) return { error: `${NOT_SUPPORTED}: ${where}, ${mode === 'disk' ? 'hibernation' : 'hybrid sleep'} needs 'disk'` };
  if (mode === 'hybrid' && !diskModes.includes('suspend')) return { error: `${NOT_SUPPORTED}: /sys/power/disk offers '${diskModes.join(' ')}', hybrid sleep needs 'suspend' there` };
  if (f.systemd && f.tools.systemctl) return { run: f.tools.systemctl, args: [VERB[mode]], name: `systemctl ${VERB[mode]}` };
  const pm = f.tools[PM[mode]];
  if (pm) return { run: pm, args: [], name: PM[mode] };
  // The kernel interface has no hybrid mode of its own (qemu-ga's answer too).
  if (mode === 'hybrid') return { error: 'unknown guest suspend mode: hybrid sleep needs systemd or pm-utils here' };
  return { write: mode === 'ram' ? 'mem' : 'disk' };
}

export async function suspend(sys: System, mode: SuspendMode): Promise<void> {
  const plan = suspendPlan(mode, suspendFacts(sys, mode));
  if ('error' in plan) throw new QgaError('GenericError', plan.error);
  if ('run' in plan) {
    const r = await sys.run(plan.run, plan.args, { timeoutMs: 60_000 });
    if (r.code !== 0) throw new QgaError('GenericError', `the helper program '${plan.name}' returned an unexpected exit status code (${r.code ?? r.signal})`);
    return;
  }
  // Returns when the guest has woken up again.
  let fd = -1;
  try {
    fd = sys.file.open('/sys/power/state', fs.constants.O_WRONLY);
    await sys.file.write(fd, Buffer.from(plan.write), 0);
  } catch (e) {
    throw new QgaError('GenericError', `suspend: cannot write to '/sys/power/state': ${strerror(errCode(e))}`);
  } finally {
    if (fd >= 0) sys.file.close(fd);
  }
}

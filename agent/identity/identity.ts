// Is this the machine the agent ran on before? Checked at each worker start, before the journal
// opens: on a change (a clone, a copied disk booted as a new VM, a new instance; never a reboot,
// never the first start) the template's journal is forgotten, a new instance id is recorded, the
// supervisor is told (`cloned` in its heartbeats, a new epoch), and, if the config asks for it, the
// machine id and the SSH host keys are made anew once the worker serves.

import path = require('path');
import { forgetJournal } from '../journal/journal';
import { createHost, Host } from '../os/host';
import type { System } from '../os/system';
import { changedSources } from './identity-change';
import { IdentityRecord, loadRecord, newInstance, saveRecord } from './identity-record';
import { machineId, readIdentity, SourceName } from './machine-identity';
import { regenerateIdentity } from './regenerate';

export interface Identity {
  /** The sources that changed at this start (empty: the same machine, or the first start). */
  readonly changed: SourceName[];
  /** For phoenix-agent-status. */
  status(): Record<string, unknown>;
  /** Makes the machine id and the host keys anew if a change left that to do; resolves when done. */
  finish(): Promise<void>;
}

export interface IdentityOptions {
  live: Host;
  sys: System;
  stateDir: string;
  regenerate: boolean;
  log(level: string, msg: string): void;
  /** Called once the machine id changed (the supervisor's default vm-id is read from it). */
  onMachineIdChanged(): void;
}

export function checkIdentity(o: IdentityOptions): Identity {
  const now = readIdentity(o.live, o.sys);
  const at = new Date().toISOString();
  let record = loadRecord(o.stateDir);
  let changed: SourceName[] = [];
  const save = (r: IdentityRecord): void => {
    record = r;
    try { saveRecord(o.stateDir, r); } catch (e) { o.log('warn', `identity: not saved (the next start checks again): ${(e as Error).message}`); }
  };
  if (!record) {
    save(newInstance(now, at, null, null));
  } else {
    changed = changedSources(record.sources, now);
    if (changed.length) {
      o.log('warn', `identity: ${changed.join(', ')} changed since the last start: this machine is a clone or a new instance; the journal's records are forgotten${o.regenerate ? '; machine-id and SSH host keys will be made anew' : ''}`);
      // Before the record names the new machine: a crash in between forgets them again, never keeps them.
      try { forgetJournal(path.join(o.stateDir, 'journal')); } catch (e) { o.log('error', `identity: the journal could not be forgotten: ${(e as Error).message}`); }
      // A machine id changed alone may be the administrator's or a test's doing, and is new already:
      // only the hypervisor's word makes new host keys (a run of test agents on one machine once
      // regenerated its keys so, each agent taking the last one's new machine id for a clone).
      const regenerate = o.regenerate && changed.some((k) => k !== 'machine-id');
      save(newInstance({ ...record.sources, ...now }, at, { at, sources: changed }, regenerate ? 'pending' : 'off'));
    } else if (Object.keys(now).some((k) => record!.sources[k as SourceName] === undefined)) {
      // A source seen for the first time (a module loaded now): recorded, no change.
      save({ ...record, sources: { ...record.sources, ...now } });
    }
  }
  return {
    changed,
    status: () => {
      const r = record!;
      return {
        instance: r.instance, since: r.since, sources: Object.keys(now).sort(), last_change: r.last_change, regeneration: r.regeneration,
        ...(r.regenerated ? { regenerated: r.regenerated } : {}), ...(r.regeneration_error ? { regeneration_error: r.regeneration_error } : {}),
      };
    },
    async finish() {
      // Pending also after a worker died half-way through: it is done again, from the start.
      if (record!.regeneration !== 'pending') return;
      const { errors, ...done } = await regenerateIdentity(o.sys, createHost(o.sys.root), o.live);
      const id = machineId(o.sys.readText('/etc/machine-id'));
      // The new machine id is this machine's from now on: the next start must not take it for a change.
      const sources = id ? { ...record!.sources, 'machine-id': id } : record!.sources;
      const error = errors.length ? { regeneration_error: errors.join('; ') } : {};
      save({ ...record!, sources, regeneration: errors.length ? 'failed' : 'done', regenerated: done, ...error });
      o.log(errors.length ? 'error' : 'info', `identity: machine-id ${done.machine_id}, SSH host keys made anew: ${done.ssh_host_keys.join(' ') || 'none'}, sshd ${done.sshd}${errors.length ? `; failed: ${errors.join('; ')}` : ''}`);
      if (done.machine_id === 'written') o.onMachineIdChanged();
    },
  };
}

// The supervisor's side of an update: at start it reads LIB/update/. A supervisor of the pending
// version gives its worker the window to become ready and stay up; then the update is final and
// versions older than the previous one go, but the .deb's (dpkg owns it). Otherwise it switches
// `current` back, records why, and exits so the init starts the previous version. Loaded from
// dist/ctl.js only when LIB/update exists: the resident bundle carries none of it.

import type { WorkerState } from '../heartbeat-packet';
import type { Logger } from '../log';
import type { DeathRecord } from '../state-store';
import { currentVersion, finishUpdate, Pending, pruneVersions, readPending, readResult, switchCurrent, UpdateFailure, UpdateResult } from './layout';

/** A worker must stay ready this long before the update is final (one that dies at once is not working). */
const STABLE_MS = 5000;

export interface UpdateWatch {
  /** What the heartbeat says: the state, the versions and an enumerated reason. */
  beat(): { state: 'updating' | 'updated' | 'update-failed'; from: string; to: string; why?: UpdateFailure } | undefined;
  /** What phoenix-agent-status says: the same with the reason's text. */
  detail(): { state: string; from: string; to: string; why?: UpdateFailure; reason?: string; at?: string } | undefined;
  workerState(state: WorkerState, lastDeath: DeathRecord | undefined): void;
}

export interface WatchDeps {
  lib: string;
  version: string;
  log: Logger;
  /** Stops the service and exits for the init to start `current` (the previous version). */
  rollback(): void;
}

export function startUpdateWatch(d: WatchDeps): UpdateWatch {
  let pending: Pending | null = readPending(d.lib);
  let result: UpdateResult | null = readResult(d.lib);
  let stableTimer: NodeJS.Timeout | null = null;
  let lastExit: string | null = null;
  const at = () => new Date().toISOString();
  const end = (r: UpdateResult) => {
    finishUpdate(d.lib, r);
    result = r;
    pending = null;
  };
  if (pending && (pending.version !== d.version || currentVersion(d.lib) !== d.version)) {
    // Cut between recording the update and switching to it: the switch never happened.
    end({ state: 'update-failed', from: pending.previous, to: pending.version, why: 'supervisor-failed', reason: `the switch to ${pending.version} did not complete; ${d.version} runs`, at: at() });
    d.log.log('warn', 'supervisor', `update to ${result!.to} did not complete; ${d.version} runs`);
  }
  const p = pending;
  let windowTimer: NodeJS.Timeout | null = null;
  if (p) {
    d.log.log('info', 'supervisor', `update ${p.previous} -> ${p.version}: the worker has ${p.windowS} s to become ready`);
    windowTimer = setTimeout(() => {
      if (!pending) return;
      const reason = `the worker of ${p.version} was not ready and up for ${STABLE_MS / 1000} s within ${p.windowS} s${lastExit ? ` (last exit: ${lastExit})` : ''}`;
      d.log.log('error', 'supervisor', `update to ${p.version} failed: ${reason}; switching back to ${p.previous}`);
      try {
        switchCurrent(d.lib, p.previous);
        end({ state: 'update-failed', from: p.previous, to: p.version, why: 'not-ready', reason, at: at() });
      } catch (e) {
        d.log.log('error', 'supervisor', `cannot switch back to ${p.previous}: ${(e as Error).message}; the launcher will after its starts`);
      }
      d.rollback();
    }, p.windowS * 1000);
  }
  return {
    beat: () => {
      if (pending) return { state: 'updating', from: pending.previous, to: pending.version };
      if (!result) return undefined;
      return { state: result.state, from: result.from, to: result.to, ...(result.why ? { why: result.why } : {}) };
    },
    detail: () => (pending ? { state: 'updating', from: pending.previous, to: pending.version } : result ?? undefined),
    workerState(state, death) {
      if (death) lastExit = `${death.reason}, ${death.signal ?? `exit code ${death.code}`}`;
      if (!pending) return;
      if (state !== 'ready' && state !== 'busy') { if (stableTimer) clearTimeout(stableTimer); stableTimer = null; return; }
      if (stableTimer) return;
      stableTimer = setTimeout(() => {
        if (!pending) return;
        clearTimeout(windowTimer!);
        end({ state: 'updated', from: p!.previous, to: p!.version, at: at() });
        const removed = pruneVersions(d.lib, [p!.version, p!.previous]);
        d.log.log('info', 'supervisor', `update ${p!.previous} -> ${p!.version} done${removed.length ? `; removed ${removed.join(', ')}` : ''}`);
      }, STABLE_MS);
    },
  };
}

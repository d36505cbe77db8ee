// The worker's side of the IPC channel to its supervisor: answers progress pings (the watchdog),
// announces readiness, asks for the supervisor's view, and exits when the supervisor is gone.

import type { FromWorker, ToWorker } from '../supervisor/ipc';
import { WORKER_EXIT } from '../supervisor/ipc';
import { QgaError } from './wire/reply';

export interface SupervisorLink {
  ready(): void;
  hostConnected(connected: boolean): void;
  status(): Promise<unknown>;
  /** Name of a command in flight, reported with each pong ("busy"). */
  setBusy(name: string | null): void;
  onConnection(cb: (handle: unknown) => void): void;
  /** File systems frozen (with the thaw deadline, ms since the epoch) or thawed (empty list). */
  frozen(mounts: string[], deadlineMs: number | null): void;
}

const STATUS_TIMEOUT_MS = 2000;

export function connectSupervisor(onGone: () => void): SupervisorLink {
  const send = (m: FromWorker): void => { if (process.connected) process.send!(m); };
  let busy: string | null = null;
  let rid = 0;
  let lastHost: boolean | null = null;
  const waiting = new Map<number, (view: unknown) => void>();
  let connectionCb: ((handle: unknown) => void) | null = null;
  process.on('message', (m: ToWorker, handle?: unknown) => {
    if (m.t === 'ping') send({ t: 'pong', seq: m.seq, busy });
    else if (m.t === 'status') { waiting.get(m.rid)?.(m.view); waiting.delete(m.rid); }
    else if (m.t === 'conn' && handle && connectionCb) {
      connectionCb(handle);
      // Our copy is open: the supervisor may now close its own.
      send({ t: 'conn-ok', cid: m.cid });
    }
  });
  // The supervisor died (even by SIGKILL): the IPC pipe closes and the worker must not outlive it.
  process.on('disconnect', () => { onGone(); process.exit(WORKER_EXIT.orphaned); });
  return {
    ready: () => send({ t: 'ready' }),
    hostConnected(connected) {
      if (connected === lastHost) return;
      lastHost = connected;
      send({ t: 'host', connected });
    },
    setBusy(name) { busy = name; },
    frozen: (mounts, deadlineMs) => send({ t: 'frozen', mounts, deadlineMs }),
    onConnection(cb) { connectionCb = cb; },
    status() {
      const id = ++rid;
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          waiting.delete(id);
          reject(new QgaError('GenericError', 'the supervisor did not answer within 2 s'));
        }, STATUS_TIMEOUT_MS);
        waiting.set(id, (view) => { clearTimeout(t); resolve(view); });
        send({ t: 'status?', rid: id });
      });
    },
  };
}

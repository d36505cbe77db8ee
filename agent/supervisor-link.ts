// The worker's side of the IPC channel to its supervisor: answers progress pings (the watchdog),
// announces readiness, asks for the supervisor's view, and exits when the supervisor is gone.

import type { ClockReport, FromWorker, JournalState, ToWorker } from '../supervisor/ipc';
import { WORKER_EXIT } from '../supervisor/ipc';
import type { Settings } from '../supervisor/settings';
import { QgaError } from './wire/reply';

export interface SupervisorLink {
  ready(): void;
  hostConnected(connected: boolean): void;
  status(): Promise<unknown>;
  /** Name of a command in flight, reported with each pong ("busy"). */
  setBusy(name: string | null): void;
  onConnection(cb: (handle: unknown) => void): void;
  /**
   * File systems about to freeze (with the thaw deadline, ms since the epoch): resolves once the
   * supervisor holds a durable record of them, rejects when it cannot (then nothing may freeze).
   * An empty list: thawed.
   */
  frozen(mounts: string[], deadlineMs: number | null): Promise<void>;
  /** The journal's state (null: usable), for the heartbeat and phoenix-agent-status. */
  journal(state: JournalState | null, reason: string | null): void;
  /** The identity sources that changed at this start (none: the same machine); see agent/identity/. */
  identity(changed: string[]): void;
  /** Asks the supervisor to re-read the config file; resolves with its view after (see ipc.ts 'reload'). */
  reload(): Promise<unknown>;
  /** Called with the supervisor's settings whenever a view brings them (a reload, a status). */
  onSettings(cb: (settings: Settings) => void): void;
  /** Called after each watchdog ping is answered: the worker's periodic tick (heartbeat-interval). */
  onPing(cb: () => void): void;
  /** Clock healing's state, for the heartbeat and phoenix-agent-status. */
  clock(report: ClockReport): void;
  /** Asks the supervisor to stop and exit for the init to start the version `current` now names. */
  handover(): void;
}

const STATUS_TIMEOUT_MS = 2000;
const BUSY_SAID_AFTER_MS = 1000;
/** Writing a small file in /run takes milliseconds; past this the freeze is refused. */
const FREEZE_ACK_TIMEOUT_MS = 5000;

export function connectSupervisor(onGone: () => void): SupervisorLink {
  const send = (m: FromWorker): void => { if (process.connected) process.send!(m); };
  let busy: string | null = null;
  let busyTimer: NodeJS.Timeout | null = null;
  let busySaid = false;
  let rid = 0;
  let lastHost: boolean | null = null;
  const waiting = new Map<number, (answer: unknown) => void>();
  let connectionCb: ((handle: unknown) => void) | null = null;
  let settingsCb: ((settings: Settings) => void) | null = null;
  let pingCb: (() => void) | null = null;
  process.on('message', (m: ToWorker, handle?: unknown) => {
    if (m.t === 'ping') { send({ t: 'pong', seq: m.seq, busy }); pingCb?.(); }
    else if (m.t === 'status') {
      // Settings first: a reload's caller finds them applied when its answer arrives.
      const settings = (m.view as { settings?: Settings } | null)?.settings;
      if (settings) settingsCb?.(settings);
      // No rid: a reload on SIGHUP, which nobody here asked for.
      if (m.rid !== undefined) { waiting.get(m.rid)?.(m.view); waiting.delete(m.rid); }
    }
    else if (m.t === 'freeze-ack') { waiting.get(m.rid)?.(m.error); waiting.delete(m.rid); }
    else if (m.t === 'conn' && handle && connectionCb) {
      connectionCb(handle);
      // Our copy is open: the supervisor may now close its own.
      send({ t: 'conn-ok', cid: m.cid });
    }
  });
  /** Sends the request made for a fresh id, and waits for its answer at most MS. */
  const ask = (request: (id: number) => FromWorker, ms: number, late: string): Promise<unknown> => {
    const id = ++rid;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { waiting.delete(id); reject(new QgaError('GenericError', late)); }, ms);
      waiting.set(id, (answer) => { clearTimeout(t); resolve(answer); });
      send(request(id));
    });
  };
  // The supervisor died (even by SIGKILL): the IPC pipe closes and the worker must not outlive it.
  process.on('disconnect', () => { onGone(); process.exit(WORKER_EXIT.orphaned); });
  return {
    ready: () => send({ t: 'ready' }),
    hostConnected(connected) {
      if (connected === lastHost) return;
      lastHost = connected;
      send({ t: 'host', connected });
    },
    setBusy(name) {
      busy = name;
      // The supervisor pings only a worker that is not asleep in epoll, so a command that waits
      // (a child process, a freeze) says itself that it is in flight, once it has lasted a second.
      if (name !== null) {
        if (!busyTimer && !busySaid) (busyTimer = setTimeout(() => { busyTimer = null; busySaid = true; send({ t: 'pong', seq: 0, busy }); }, BUSY_SAID_AFTER_MS)).unref();
        return;
      }
      if (busyTimer) { clearTimeout(busyTimer); busyTimer = null; }
      if (busySaid) { busySaid = false; send({ t: 'pong', seq: 0, busy: null }); }
    },
    async frozen(mounts, deadlineMs) {
      if (!mounts.length) { send({ t: 'frozen', mounts, deadlineMs }); return; }
      const error = await ask((id) => ({ t: 'freeze?', rid: id, mounts, deadlineMs }), FREEZE_ACK_TIMEOUT_MS, 'the supervisor did not answer within 5 s')
        .catch((e: QgaError) => {
          // It may still make the record late: take it back, so nothing stays recorded as frozen.
          send({ t: 'frozen', mounts: [], deadlineMs: null });
          return e.desc;
        });
      if (error !== null) throw new QgaError('GenericError', String(error));
    },
    journal: (state, reason) => send({ t: 'journal', state, reason }),
    identity: (changed) => send({ t: 'identity', changed }),
    onConnection(cb) { connectionCb = cb; },
    status: () => ask((id) => ({ t: 'status?', rid: id }), STATUS_TIMEOUT_MS, 'the supervisor did not answer within 2 s'),
    reload: () => ask((id) => ({ t: 'reload', rid: id }), STATUS_TIMEOUT_MS, 'the supervisor did not answer the reload within 2 s'),
    onSettings(cb) { settingsCb = cb; },
    onPing(cb) { pingCb = cb; },
    clock: (report) => send({ t: 'clock', report, beat: { heal: report.heal, rtc_offset_ms: report.rtc_offset_ms, last: report.last && { result: report.last.result, step_ms: report.last.step_ms, at_ms: report.last.at_mono } } }),
    handover: () => send({ t: 'handover' }),
  };
}

// The payload of an authentic heartbeat, checked field by field and rebuilt from what was checked:
// the key holder is the VM's root, who may send anything. Every string is an enumerated value or
// matches a narrow pattern, numbers are finite and in range, unknown fields are dropped; so no
// guest text reaches the collector's output, its JSON or its labels (a newline in a state once
// let one VM print lines about another).

import type { ChannelState } from '../supervisor/channel';
import type { DeathReason } from '../supervisor/death';
import { HeartbeatPayload, MAX_INTERVAL_MS, MIN_INTERVAL_MS, WorkerState } from '../supervisor/heartbeat-packet';

// Records over the senders' types: a state added there fails the type check here until listed.
const WORKER_STATES: Record<WorkerState, true> = { starting: true, ready: true, busy: true, backoff: true, hung: true, stopped: true };
const EXIT_REASONS: Record<DeathReason, true> = { clean: true, crash: true, signal: true, 'heap-oom': true, 'kernel-oom': true, hung: true };
const CHANNEL_STATES: Record<ChannelState | 'host-connected' | 'host-disconnected', true> = {
  listening: true, open: true, absent: true, busy: true, error: true, closed: true, 'host-connected': true, 'host-disconnected': true,
};
const CHANNEL_KINDS: Record<'unix' | 'serial', true> = { unix: true, serial: true };
type Update = NonNullable<HeartbeatPayload['update']>;
const UPDATE_STATES: Record<Update['state'], true> = { updating: true, updated: true, 'update-failed': true };
const UPDATE_WHY: Record<NonNullable<Update['why']>, true> = { 'not-ready': true, 'supervisor-failed': true };
const JOURNAL_PROBLEMS: Record<NonNullable<HeartbeatPayload['journal']>, true> = { 'read-only': true, 'no-space': true, error: true };
type ClockBeat = NonNullable<HeartbeatPayload['clock']>;
const CLOCK_HEAL: Record<ClockBeat['heal'], true> = { on: true, off: true, 'no-rtc': true };
const CLOCK_RESULTS: Record<NonNullable<ClockBeat['last']>['result'], true> = { stepped: true, refused: true, failed: true };

const BOOT = /^[0-9a-f-]{1,64}$/;
const VERSION = /^[0-9A-Za-z.+~_-]{1,40}$/;
const SIGNAL = /^SIG[A-Z0-9+-]{1,12}$/;
/** Counts and durations: whole numbers that JSON and a float64 hold exactly. */
const MAX_NUMBER = Number.MAX_SAFE_INTEGER;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const int = (v: unknown, min = 0, max = MAX_NUMBER): v is number => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
const intOrNull = (v: unknown): v is number | null => v === null || int(v);
const oneOf = <T extends string>(set: Record<T, true>, v: unknown): v is T => typeof v === 'string' && Object.prototype.hasOwnProperty.call(set, v);

function need(ok: boolean, field: string): void {
  if (!ok) throw new Error(`payload field ${field} is missing or not as documented`);
}

/** Parses and checks a payload; null for anything that is not exactly what docs/heartbeat.md lists. */
export function readPayload(text: string): HeartbeatPayload | null {
  try {
    return checkPayload(JSON.parse(text));
  } catch {
    return null;
  }
}

/** The same check on a parsed value; the error names the first wrong field. */
export function checkPayload(p: unknown): HeartbeatPayload {
  need(isObj(p), 'payload');
  const o = p as Obj;
  need(typeof o.boot === 'string' && BOOT.test(o.boot), 'boot');
  need(int(o.interval_ms, MIN_INTERVAL_MS, MAX_INTERVAL_MS), 'interval_ms');
  const s = o.sup as Obj;
  need(isObj(s) && int(s.pid) && int(s.up_ms) && int(s.start_ms) && int(s.rss_kb) && int(s.anon_kb), 'sup');
  need(typeof s.ver === 'string' && VERSION.test(s.ver), 'sup.ver');
  const w = o.worker as Obj;
  need(isObj(w) && oneOf(WORKER_STATES, w.state), 'worker.state');
  need(intOrNull(w.pid) && int(w.gen) && intOrNull(w.progress_age_ms) && intOrNull(w.rss_kb) && intOrNull(w.anon_kb), 'worker');
  need(w.backoff_ms === undefined || int(w.backoff_ms), 'worker.backoff_ms');
  const r = o.restarts as Obj;
  need(isObj(r) && int(r.total) && int(r.failures_10m), 'restarts');
  const e = o.last_exit as Obj | null;
  need(e === null || (isObj(e) && oneOf(EXIT_REASONS, e.reason) && (e.code === null || int(e.code, -MAX_NUMBER)) && (e.signal === null || (typeof e.signal === 'string' && SIGNAL.test(e.signal))) && int(e.ago_ms)), 'last_exit');
  const c = o.channel as Obj;
  need(isObj(c) && oneOf(CHANNEL_KINDS, c.kind) && oneOf(CHANNEL_STATES, c.state), 'channel');
  need(o.stopping === undefined || o.stopping === true, 'stopping');
  need(o.journal === undefined || oneOf(JOURNAL_PROBLEMS, o.journal), 'journal');
  const clock = o.clock === undefined ? undefined : checkClock(o.clock);
  const u = o.update as Obj | undefined;
  need(u === undefined || (isObj(u) && oneOf(UPDATE_STATES, u.state) && typeof u.from === 'string' && VERSION.test(u.from)
    && typeof u.to === 'string' && VERSION.test(u.to) && (u.why === undefined || oneOf(UPDATE_WHY, u.why))), 'update');
  need(o.cloned === undefined || o.cloned === true, 'cloned');
  return {
    boot: o.boot as string,
    interval_ms: o.interval_ms as number,
    sup: { pid: s.pid as number, up_ms: s.up_ms as number, start_ms: s.start_ms as number, ver: s.ver as string, rss_kb: s.rss_kb as number, anon_kb: s.anon_kb as number },
    worker: {
      state: w.state as WorkerState, pid: w.pid as number | null, gen: w.gen as number, progress_age_ms: w.progress_age_ms as number | null,
      rss_kb: w.rss_kb as number | null, anon_kb: w.anon_kb as number | null, ...(w.backoff_ms !== undefined ? { backoff_ms: w.backoff_ms as number } : {}),
    },
    restarts: { total: r.total as number, failures_10m: r.failures_10m as number },
    last_exit: e === null ? null : { reason: e.reason as DeathReason, code: e.code as number | null, signal: e.signal as string | null, ago_ms: e.ago_ms as number },
    channel: { kind: c.kind as string, state: c.state as string },
    ...(o.stopping ? { stopping: true as const } : {}),
    ...(o.journal !== undefined ? { journal: o.journal as HeartbeatPayload['journal'] } : {}),
    ...(u !== undefined ? { update: { state: u.state as Update['state'], from: u.from as string, to: u.to as string, ...(u.why !== undefined ? { why: u.why as Update['why'] } : {}) } } : {}),
    ...(o.cloned ? { cloned: true as const } : {}),
    ...(clock ? { clock } : {}),
  };
}

/** The clock field (added after the first collectors, which drop it as an unknown field). */
function checkClock(v: unknown): ClockBeat {
  need(isObj(v) && oneOf(CLOCK_HEAL, v.heal) && (v.rtc_offset_ms === null || int(v.rtc_offset_ms, -MAX_NUMBER)), 'clock');
  const c = v as Obj;
  const l = c.last as Obj | null;
  need(l === null || (isObj(l) && oneOf(CLOCK_RESULTS, l.result) && int(l.step_ms, -MAX_NUMBER) && int(l.at_ms)), 'clock.last');
  return {
    heal: c.heal as ClockBeat['heal'], rtc_offset_ms: c.rtc_offset_ms as number | null,
    last: l === null ? null : { result: l.result as NonNullable<ClockBeat['last']>['result'], step_ms: l.step_ms as number, at_ms: l.at_ms as number },
  };
}

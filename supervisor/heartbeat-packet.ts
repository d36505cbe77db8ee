// The heartbeat datagram: a small binary header the receiver can check before any parsing, a JSON
// payload, and an HMAC-SHA256 over everything before it. Shared by the sender (supervisor) and the
// receiver (panel/); docs/heartbeat.md describes it byte by byte.
//
//   0  2  magic "PG"          |  ..  8  start counter, u64 big-endian (orders epochs)
//   2  1  format version (2)  |  ..  8  epoch (random per supervisor start)
//   3  1  vm id length L      |  ..  8  sequence number, u64 big-endian, from 1
//   4  L  vm id (ASCII)       |  ..  2  payload length P, u16 big-endian
//   .. 1  key id length K     |  ..  P  payload, JSON (UTF-8)
//   .. K  key id (ASCII)      |  .. 32  HMAC-SHA256(key, all bytes before it)

import type * as cryptoModule from 'crypto';
import type { ClockBeat } from './ipc';

// Loaded on first use: compiling Node's crypto module would delay the worker's spawn.
let cryptoCache: typeof cryptoModule | null = null;
function crypto(): typeof cryptoModule {
  return (cryptoCache ??= require('crypto') as typeof cryptoModule);
}

export const HEARTBEAT_VERSION = 2;
export const MAX_DATAGRAM = 1024;
export const MAC_BYTES = 32;
/** The range of `interval_ms` both sides accept (the agent's `heartbeat-interval`, 0.05 to 3600 s). */
export const MIN_INTERVAL_MS = 50;
export const MAX_INTERVAL_MS = 3_600_000;

/** A fresh random epoch, 16 hex digits. */
export function randomEpoch(): string {
  return crypto().randomBytes(8).toString('hex');
}
const MAGIC0 = 0x50, MAGIC1 = 0x47;
export const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
export const KEY_ID_PATTERN = /^[A-Za-z0-9._:-]{0,32}$/;

export type WorkerState = 'starting' | 'ready' | 'busy' | 'backoff' | 'hung' | 'stopped';

/** What a heartbeat says; docs/heartbeat.md lists every field. */
export interface HeartbeatPayload {
  boot: string;
  interval_ms: number;
  /** start_ms: when this supervisor started, on the boot's monotonic clock (orders epochs). */
  sup: { pid: number; up_ms: number; start_ms: number; ver: string; rss_kb: number; anon_kb: number };
  worker: {
    state: WorkerState;
    pid: number | null;
    gen: number;
    /** Age of the last progress tick answered by the worker, null when none yet. */
    progress_age_ms: number | null;
    rss_kb: number | null;
    anon_kb: number | null;
    /** Delay left before the next spawn while in backoff. */
    backoff_ms?: number;
  };
  restarts: { total: number; failures_10m: number };
  last_exit: null | { reason: string; code: number | null; signal: string | null; ago_ms: number };
  channel: { kind: string; state: string };
  /** Only in the last beat of a supervisor that stops cleanly (SIGTERM, SIGINT). */
  stopping?: true;
  /** Only in the beats of the supervisor start that found this machine to be a clone or a new instance. */
  cloned?: true;
  /** Present only while the worker's journal cannot take records: why (commands with a key are refused). */
  journal?: 'read-only' | 'no-space' | 'error';
  /** Clock healing, once the worker has reported it: the wall clock's offset from the RTC and the last correction. */
  clock?: ClockBeat;
  /** While an update is proven, and how the last one ended (docs/updates.md). */
  update?: { state: 'updating' | 'updated' | 'update-failed'; from: string; to: string; why?: 'not-ready' | 'supervisor-failed' };
}

export interface HeartbeatHeader {
  vmId: string;
  keyId: string;
  /** Grows at every supervisor start of this VM (heartbeat-counter.ts): a later epoch has a larger one. */
  startCounter: bigint;
  /** 16 hex digits. */
  epoch: string;
  seq: bigint;
}

export interface Heartbeat extends HeartbeatHeader {
  payload: HeartbeatPayload;
}

export function encodeHeartbeat(h: Heartbeat, key: Buffer): Buffer {
  // Written in place: no Buffer per field (the ids are ASCII, checked by the settings).
  const vm = h.vmId.length;
  const kid = h.keyId.length;
  const json = JSON.stringify(h.payload);
  const body = Buffer.byteLength(json);
  const out = Buffer.allocUnsafe(4 + vm + 1 + kid + 24 + 2 + body + MAC_BYTES);
  let o = 0;
  out[o++] = MAGIC0; out[o++] = MAGIC1; out[o++] = HEARTBEAT_VERSION; out[o++] = vm;
  o += out.write(h.vmId, o, 'latin1');
  out[o++] = kid;
  o += out.write(h.keyId, o, 'latin1');
  out.writeBigUInt64BE(h.startCounter, o); o += 8;
  o += out.write(h.epoch, o, 'hex');
  out.writeBigUInt64BE(h.seq, o); o += 8;
  out.writeUInt16BE(body, o); o += 2;
  o += out.write(json, o);
  crypto().createHmac('sha256', key).update(out.subarray(0, o)).digest().copy(out, o);
  return out;
}

export type HeaderResult =
  | { ok: true; header: HeartbeatHeader; payloadStart: number; payloadEnd: number }
  | { ok: false; why: 'size' | 'format' }
  /** vmId: what the datagram claims (version 1 put it at the same place), so the sender can be told. */
  | { ok: false; why: 'old-version'; vmId: string | null };

/** Reads the header without trusting anything: a failure says which cheap check failed. */
export function readHeader(d: Buffer): HeaderResult {
  if (d.length > MAX_DATAGRAM || d.length < 4 + 1 + 1 + 24 + 2 + MAC_BYTES + 2) return { ok: false, why: 'size' };
  if (d[0] !== MAGIC0 || d[1] !== MAGIC1) return { ok: false, why: 'format' };
  let o = 3;
  const vmLen = d[o++];
  if (vmLen < 1 || vmLen > 64 || o + vmLen >= d.length) return { ok: false, why: 'format' };
  const vmId = d.toString('latin1', o, o + vmLen); o += vmLen;
  // Version 1 had nothing ordered across boots: a replay of an earlier boot retired the live epoch.
  if (d[2] !== HEARTBEAT_VERSION) return d[2] === 1 ? { ok: false, why: 'old-version', vmId: ID_PATTERN.test(vmId) ? vmId : null } : { ok: false, why: 'format' };
  const kidLen = d[o++];
  if (kidLen > 32 || o + kidLen + 26 + MAC_BYTES > d.length) return { ok: false, why: 'format' };
  const keyId = d.toString('latin1', o, o + kidLen); o += kidLen;
  const startCounter = d.readBigUInt64BE(o); o += 8;
  const epoch = d.toString('hex', o, o + 8); o += 8;
  const seq = d.readBigUInt64BE(o); o += 8;
  const plen = d.readUInt16BE(o); o += 2;
  if (o + plen + MAC_BYTES !== d.length) return { ok: false, why: 'format' };
  if (!ID_PATTERN.test(vmId) || !KEY_ID_PATTERN.test(keyId)) return { ok: false, why: 'format' };
  return { ok: true, header: { vmId, keyId, startCounter, epoch, seq }, payloadStart: o, payloadEnd: o + plen };
}

/** Constant-time check of the MAC at the end of the datagram. */
export function macIsValid(d: Buffer, key: Buffer): boolean {
  const end = d.length - MAC_BYTES;
  const want = crypto().createHmac('sha256', key).update(d.subarray(0, end)).digest();
  return crypto().timingSafeEqual(want, d.subarray(end));
}

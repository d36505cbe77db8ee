// One supervisor start of a VM as the collector sees it: its epoch id, the start counter it signs,
// a 64-entry sequence window, and its last beat. Which epoch is live is decided here, by rules
// that a replayed datagram cannot satisfy (docs/heartbeat.md, "Epochs").

import type { HeartbeatHeader, HeartbeatPayload } from '../supervisor/heartbeat-packet';

const WINDOW = 64n;

export interface Epoch {
  id: string;
  counter: bigint;
  highest: bigint;
  /** Bit i set: sequence number highest - i was seen. */
  seen: bigint;
  /** Distinct sequence numbers accepted. */
  beats: number;
  payload: HeartbeatPayload;
  /** When the beat with the highest sequence number arrived (the receiver's clock). */
  lastAt: number;
}

export function newEpoch(h: HeartbeatHeader, payload: HeartbeatPayload, now: number): Epoch {
  return { id: h.epoch, counter: h.startCounter, highest: h.seq, seen: 1n, beats: 1, payload, lastAt: now };
}

/**
 * Admits SEQ into E's window: 'new' (the latest beat: E now shows it), 'late' (inside the window,
 * not seen before: counted, but older than what E shows), or a refusal.
 */
export function admit(e: Epoch, seq: bigint, payload: HeartbeatPayload, now: number): 'new' | 'late' | 'replay' | 'too-old' {
  if (seq > e.highest) {
    const shift = seq - e.highest;
    e.seen = shift >= WINDOW ? 1n : ((e.seen << shift) | 1n) & ((1n << WINDOW) - 1n);
    e.highest = seq;
    e.payload = payload;
    e.lastAt = now;
    e.beats++;
    return 'new';
  }
  const back = e.highest - seq;
  if (back >= WINDOW) return 'too-old';
  if ((e.seen >> back) & 1n) return 'replay';
  e.seen |= 1n << back;
  e.beats++;
  return 'late';
}

/**
 * Whether the pending epoch P replaces the live epoch L now. One datagram never does it while L
 * is live: P needs a second beat, unless L said it was stopping or has missed a beat. A P whose
 * counter is not above L's (a supervisor that could not save its counter) needs both: two beats
 * and L gone quiet. Epochs with a lower counter never get here (refused as stale).
 */
export function takesOver(p: Epoch, l: Epoch, now: number): boolean {
  const liveGone = l.payload.stopping === true || now - l.lastAt > 1.5 * l.payload.interval_ms;
  return p.counter > l.counter ? p.beats >= 2 || liveGone : p.beats >= 2 && liveGone;
}

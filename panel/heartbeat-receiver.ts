// The receiver side of the heartbeat, for the panel: verifies each datagram (size, known VM and
// key, HMAC in constant time, epoch and sequence window), keeps each VM's last authentic beat, and
// classifies what the panel should show. It never answers a datagram.

import { HeartbeatPayload, macIsValid, readHeader } from '../supervisor/heartbeat-packet';

export type Rejection = 'size' | 'format' | 'unknown-vm' | 'unknown-key' | 'bad-mac' | 'replay' | 'too-old' | 'stale-epoch' | 'bad-payload';
export type Verdict = { ok: true; vmId: string } | { ok: false; why: Rejection };

export type VmState = 'working' | 'alive-not-working' | 'crash-looping' | 'oom-killed' | 'hung' | 'silent' | 'auth-failing';

export interface VmView {
  vmId: string;
  state: VmState;
  /** One line saying why, for a person. */
  reason: string;
  lastBeatAgoMs: number;
  epoch: string;
  seq: string;
  /** Null for a VM that never sent an authentic beat. */
  payload: HeartbeatPayload;
  authFailures: number;
}

export interface KeyEntry {
  keyId: string;
  key: Buffer;
  /** During a rotation the old key is accepted until then (ms since the epoch). */
  notAfter?: number;
}

const WINDOW = 64n;
/** The interval assumed for a VM that never sent an authentic beat. */
const DEFAULT_INTERVAL_MS = 10_000;
const RETIRED_EPOCHS = 16;

interface Track {
  /** Null until the first authentic beat (a VM seen only through failed MACs). */
  epoch: string;
  highest: bigint;
  /** Bit i set: sequence number highest - i was seen. */
  seen: bigint;
  retired: string[];
  payload: HeartbeatPayload;
  lastAt: number;
  state: VmState | null;
  /** Datagrams for this VM that failed the MAC or named an unknown key, and when the last did. */
  authFailures: number;
  lastAuthFailureAt: number;
}

export interface ReceiverOptions {
  /** Beats missed before a VM counts as silent. */
  silentAfterIntervals?: number;
  now?: () => number;
  onChange?: (v: VmView, previous: VmState | null) => void;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const num = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
const numOrNull = (v: unknown): boolean => v === null || num(v);

/** Shape check of an authentic payload; a sender with a bug must not break the panel. */
export function payloadIsValid(p: unknown): p is HeartbeatPayload {
  if (!isObj(p) || !isObj(p.sup) || !isObj(p.worker) || !isObj(p.restarts) || !isObj(p.channel)) return false;
  const w = p.worker;
  return typeof w.state === 'string' && numOrNull(w.pid) && num(w.gen) && numOrNull(w.progress_age_ms)
    && num(p.interval_ms) && (p.interval_ms as number) >= 50 && num(p.restarts.total) && num(p.restarts.failures_10m)
    && (p.last_exit === null || (isObj(p.last_exit) && typeof p.last_exit.reason === 'string' && num(p.last_exit.ago_ms)));
}

/**
 * Whether a beat with a new epoch comes from a supervisor started after the current one: later on
 * the same boot's monotonic clock, or on another boot. A replayed datagram of an older epoch (even
 * one forgotten by the retired list) cannot displace the running supervisor.
 */
function startsLater(next: HeartbeatPayload, cur: HeartbeatPayload): boolean {
  if (next.boot !== cur.boot) return true;
  return typeof next.sup.start_ms !== 'number' || typeof cur.sup.start_ms !== 'number' || next.sup.start_ms > cur.sup.start_ms;
}

/** What the panel shows for one VM, from its last authentic beat and how old that beat is. */
export function classify(p: HeartbeatPayload, beatAgeMs: number, silentAfterIntervals = 3): { state: VmState; reason: string } {
  const interval = p.interval_ms;
  if (beatAgeMs > silentAfterIntervals * interval) return { state: 'silent', reason: `no heartbeat for ${Math.round(beatAgeMs / 1000)} s` };
  const hold = 3 * interval;
  const last = p.last_exit;
  const recent = last !== null && last.ago_ms + beatAgeMs < hold;
  const w = p.worker;
  if (w.state === 'backoff' || (p.restarts.failures_10m >= 3 && recent)) {
    return { state: 'crash-looping', reason: `${p.restarts.failures_10m} failures in 10 min${last ? `, last: ${last.reason}` : ''}` };
  }
  if (recent && (last!.reason === 'kernel-oom' || last!.reason === 'heap-oom')) {
    return { state: 'oom-killed', reason: last!.reason === 'kernel-oom' ? 'killed by the kernel OOM killer' : 'worker reached its V8 heap limit' };
  }
  const stale = w.progress_age_ms !== null && w.progress_age_ms > 2 * interval;
  if (w.state === 'hung' || (recent && last!.reason === 'hung') || ((w.state === 'ready' || w.state === 'busy') && stale)) {
    return { state: 'hung', reason: w.state === 'hung' || stale ? 'worker stopped making progress' : 'worker was killed as hung' };
  }
  if ((w.state === 'ready' || w.state === 'busy') && (p.channel.state === 'absent' || p.channel.state === 'busy' || p.channel.state === 'error')) {
    return { state: 'alive-not-working', reason: `channel ${p.channel.state}` };
  }
  if (w.state === 'ready' || w.state === 'busy') return { state: 'working', reason: w.state };
  return { state: 'alive-not-working', reason: `worker ${w.state}${last ? `, last exit: ${last.reason}` : ''}` };
}

export class HeartbeatReceiver {
  readonly counters: Record<'ok' | Rejection, number> = {
    ok: 0, size: 0, format: 0, 'unknown-vm': 0, 'unknown-key': 0, 'bad-mac': 0, replay: 0, 'too-old': 0, 'stale-epoch': 0, 'bad-payload': 0,
  };
  private readonly tracks = new Map<string, Track>();
  private readonly now: () => number;

  constructor(private readonly keys: (vmId: string) => KeyEntry[] | undefined, private readonly opts: ReceiverOptions = {}) {
    this.now = opts.now ?? (() => Number(process.hrtime.bigint() / 1_000_000n));
  }

  accept(d: Buffer): Verdict {
    const v = this.verify(d);
    this.counters[v.ok ? 'ok' : v.why]++;
    return v;
  }

  private verify(d: Buffer): Verdict {
    const h = readHeader(d);
    if (!h.ok) return h;
    const { vmId, keyId, epoch, seq } = h.header;
    const entries = this.keys(vmId);
    if (!entries) return { ok: false, why: 'unknown-vm' };
    const wall = Date.now();
    const entry = entries.find((k) => k.keyId === keyId && (k.notAfter === undefined || wall <= k.notAfter));
    if (!entry) { this.authFailure(vmId); return { ok: false, why: 'unknown-key' }; }
    if (!macIsValid(d, entry.key)) { this.authFailure(vmId); return { ok: false, why: 'bad-mac' }; }
    let payload: unknown;
    try {
      payload = JSON.parse(d.toString('utf8', h.payloadStart, h.payloadEnd));
    } catch {
      return { ok: false, why: 'bad-payload' };
    }
    if (!payloadIsValid(payload)) return { ok: false, why: 'bad-payload' };
    const t = this.tracks.get(vmId);
    if (!t || !t.payload) {
      this.tracks.set(vmId, { epoch, highest: seq, seen: 1n, retired: [], payload, lastAt: this.now(), state: t?.state ?? null, authFailures: t?.authFailures ?? 0, lastAuthFailureAt: t?.lastAuthFailureAt ?? 0 });
    } else if (t.epoch !== epoch) {
      if (t.retired.includes(epoch) || !startsLater(payload, t.payload)) return { ok: false, why: 'stale-epoch' };
      // A new supervisor start: authentic and later, so the old epoch is over for good.
      t.retired = [...t.retired, t.epoch].slice(-RETIRED_EPOCHS);
      Object.assign(t, { epoch, highest: seq, seen: 1n, payload, lastAt: this.now() });
    } else if (seq > t.highest) {
      const shift = seq - t.highest;
      t.seen = shift >= WINDOW ? 1n : ((t.seen << shift) | 1n) & ((1n << WINDOW) - 1n);
      Object.assign(t, { highest: seq, payload, lastAt: this.now() });
    } else {
      const back = t.highest - seq;
      if (back >= WINDOW) return { ok: false, why: 'too-old' };
      if ((t.seen >> back) & 1n) return { ok: false, why: 'replay' };
      t.seen |= 1n << back; // late but new: counted, yet older than the state already shown
    }
    this.notify(vmId);
    return { ok: true, vmId };
  }

  /** A known VM's datagram that fails authentication: a key mismatch is its own state, never "dead". */
  private authFailure(vmId: string): void {
    let t = this.tracks.get(vmId);
    if (!t) {
      t = { epoch: '', highest: 0n, seen: 0n, retired: [], payload: null as unknown as HeartbeatPayload, lastAt: 0, state: null, authFailures: 0, lastAuthFailureAt: 0 };
      this.tracks.set(vmId, t);
    }
    t.authFailures++;
    t.lastAuthFailureAt = this.now();
    this.notify(vmId);
  }

  /** Re-classifies every VM (call it periodically so that silence is noticed). */
  sweep(): void {
    for (const vmId of this.tracks.keys()) this.notify(vmId);
  }

  view(vmId: string): VmView | null {
    const t = this.tracks.get(vmId);
    if (!t) return null;
    const now = this.now();
    const age = t.payload ? Math.max(0, now - t.lastAt) : Infinity;
    const interval = t.payload?.interval_ms ?? DEFAULT_INTERVAL_MS;
    // Failing authentication and no authentic beat for two intervals: the keys disagree.
    if (t.authFailures > 0 && now - t.lastAuthFailureAt < 3 * interval && age > 2 * interval) {
      return { vmId, state: 'auth-failing', reason: `${t.authFailures} datagrams failed authentication (key mismatch or rotation?)`, lastBeatAgoMs: age, epoch: t.epoch, seq: t.highest.toString(), payload: t.payload, authFailures: t.authFailures };
    }
    if (!t.payload) return { vmId, state: 'silent', reason: 'no authentic heartbeat yet', lastBeatAgoMs: age, epoch: '', seq: '0', payload: t.payload, authFailures: t.authFailures };
    const c = classify(t.payload, age, this.opts.silentAfterIntervals);
    return { vmId, state: c.state, reason: c.reason, lastBeatAgoMs: age, epoch: t.epoch, seq: t.highest.toString(), payload: t.payload, authFailures: t.authFailures };
  }

  views(): VmView[] {
    return [...this.tracks.keys()].map((id) => this.view(id)!);
  }

  private notify(vmId: string): void {
    const t = this.tracks.get(vmId)!;
    const v = this.view(vmId)!;
    if (v.state !== t.state) {
      const previous = t.state;
      t.state = v.state;
      this.opts.onChange?.(v, previous);
    }
  }
}

/**
 * Parses a receiver key file: lines "VMID [KEYID] HEXKEY [until=ISO-8601]"; "#" comments. Two
 * lines for one VM (old and new key) make a rotation; `until` ends the old key's window.
 */
export function parseKeyFile(text: string): Map<string, KeyEntry[]> {
  const keys = new Map<string, KeyEntry[]>();
  text.split('\n').forEach((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith('#')) return;
    const w = t.split(/\s+/);
    const until = w.length > 2 && w[w.length - 1].startsWith('until=') ? w.pop()!.slice(6) : undefined;
    const [vmId, keyId, hex] = w.length === 3 ? w : [w[0], '', w[1]];
    if (w.length < 2 || w.length > 3 || !/^(?:[0-9a-fA-F]{2}){32,128}$/.test(hex ?? '')) throw new Error(`key file line ${i + 1}: expected 'VMID [KEYID] HEXKEY [until=TIME]' (64-256 hex digits)`);
    const notAfter = until === undefined ? undefined : Date.parse(until);
    if (notAfter !== undefined && Number.isNaN(notAfter)) throw new Error(`key file line ${i + 1}: until=${until} is not a time (ISO 8601)`);
    const list = keys.get(vmId) ?? [];
    list.push({ keyId, key: Buffer.from(hex, 'hex'), ...(notAfter !== undefined ? { notAfter } : {}) });
    keys.set(vmId, list);
  });
  return keys;
}

// The receiver side of the heartbeat, for the panel: verifies each datagram (size, known VM and
// key, HMAC in constant time, epoch and sequence window), keeps each VM's last authentic beat, and
// classifies what the panel should show. It never answers a datagram.

import { HeartbeatPayload, macIsValid, readHeader } from '../supervisor/heartbeat-packet';

export type Rejection = 'size' | 'format' | 'unknown-vm' | 'unknown-key' | 'bad-mac' | 'replay' | 'too-old' | 'stale-epoch' | 'bad-payload';
export type Verdict = { ok: true; vmId: string } | { ok: false; why: Rejection };

export type VmState = 'working' | 'alive-not-working' | 'crash-looping' | 'oom-killed' | 'hung' | 'silent';

export interface VmView {
  vmId: string;
  state: VmState;
  /** One line saying why, for a person. */
  reason: string;
  lastBeatAgoMs: number;
  epoch: string;
  seq: string;
  payload: HeartbeatPayload;
}

export interface KeyEntry {
  keyId: string;
  key: Buffer;
}

const WINDOW = 64n;
const RETIRED_EPOCHS = 16;

interface Track {
  epoch: string;
  highest: bigint;
  /** Bit i set: sequence number highest - i was seen. */
  seen: bigint;
  retired: string[];
  payload: HeartbeatPayload;
  lastAt: number;
  state: VmState | null;
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
    const entry = entries.find((k) => k.keyId === keyId);
    if (!entry) return { ok: false, why: 'unknown-key' };
    if (!macIsValid(d, entry.key)) return { ok: false, why: 'bad-mac' };
    let payload: unknown;
    try {
      payload = JSON.parse(d.toString('utf8', h.payloadStart, h.payloadEnd));
    } catch {
      return { ok: false, why: 'bad-payload' };
    }
    if (!payloadIsValid(payload)) return { ok: false, why: 'bad-payload' };
    const t = this.tracks.get(vmId);
    if (!t) {
      this.tracks.set(vmId, { epoch, highest: seq, seen: 1n, retired: [], payload, lastAt: this.now(), state: null });
    } else if (t.epoch !== epoch) {
      if (t.retired.includes(epoch)) return { ok: false, why: 'stale-epoch' };
      // A new supervisor start: authentic, so the old epoch is over for good.
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

  /** Re-classifies every VM (call it periodically so that silence is noticed). */
  sweep(): void {
    for (const vmId of this.tracks.keys()) this.notify(vmId);
  }

  view(vmId: string): VmView | null {
    const t = this.tracks.get(vmId);
    if (!t) return null;
    const age = Math.max(0, this.now() - t.lastAt);
    const c = classify(t.payload, age, this.opts.silentAfterIntervals);
    return { vmId, state: c.state, reason: c.reason, lastBeatAgoMs: age, epoch: t.epoch, seq: t.highest.toString(), payload: t.payload };
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

/** Parses a receiver key file: lines "VMID KEYID HEXKEY" or "VMID HEXKEY"; "#" comments. */
export function parseKeyFile(text: string): Map<string, KeyEntry[]> {
  const keys = new Map<string, KeyEntry[]>();
  text.split('\n').forEach((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith('#')) return;
    const w = t.split(/\s+/);
    const [vmId, keyId, hex] = w.length === 3 ? w : [w[0], '', w[1]];
    if (w.length < 2 || w.length > 3 || !/^(?:[0-9a-fA-F]{2}){32,128}$/.test(hex ?? '')) throw new Error(`key file line ${i + 1}: expected 'VMID [KEYID] HEXKEY' (64-256 hex digits)`);
    const list = keys.get(vmId) ?? [];
    list.push({ keyId, key: Buffer.from(hex, 'hex') });
    keys.set(vmId, list);
  });
  return keys;
}

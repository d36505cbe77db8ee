// The receiver side of the heartbeat, for the panel: verifies each datagram (size, known VM and
// key, HMAC in constant time, payload, epoch and sequence window), keeps each VM's live epoch, and
// classifies what the panel should show. It never answers a datagram.

import { HeartbeatPayload, macIsValid, readHeader } from '../supervisor/heartbeat-packet';
import { admit, Epoch, newEpoch, takesOver } from './epoch';
import { readPayload } from './heartbeat-payload';
import type { KeyEntry } from './key-file';
import { SourceTable } from './source-table';
import { classify, VmState } from './vm-state';

export { classify, VM_STATES } from './vm-state';
export type { VmState } from './vm-state';
export { parseKeyFile, loadKeyFile, KeyFileError } from './key-file';
export type { KeyEntry } from './key-file';

export type Rejection = 'size' | 'format' | 'old-version' | 'unknown-vm' | 'unknown-key' | 'bad-mac' | 'bad-payload' | 'replay' | 'too-old' | 'stale-epoch';
export type Verdict = { ok: true; vmId: string } | { ok: false; why: Rejection; vmId?: string | null };

export interface VmView {
  vmId: string;
  state: VmState;
  /** One line saying why, for a person. */
  reason: string;
  /** Null for a VM that never sent an authentic beat. */
  lastBeatAgoMs: number | null;
  epoch: string;
  /** The start counter of the live epoch, as decimal text. */
  startCounter: string;
  seq: string;
  /** Null for a VM that never sent an authentic beat. */
  payload: HeartbeatPayload;
  authFailures: number;
  /** Change number and time of the last change of state (0 and null: none yet). */
  rev: number;
  changedAt: string | null;
}

/** The keys of every VM (a map lists never-seen VMs too), or a lookup (the panel's own store). */
export type KeySource = Map<string, KeyEntry[]> | ((vmId: string) => KeyEntry[] | undefined);

/** The interval assumed for a VM that never sent an authentic beat. */
const DEFAULT_INTERVAL_MS = 10_000;

interface Track {
  live: Epoch | null;
  /** A later start seen, not yet proven (epoch.ts, takesOver). */
  pending: Epoch | null;
  state: VmState | null;
  rev: number;
  changedAt: number | null;
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

export class HeartbeatReceiver {
  readonly counters: Record<'ok' | Rejection, number> = {
    ok: 0, size: 0, format: 0, 'old-version': 0, 'unknown-vm': 0, 'unknown-key': 0, 'bad-mac': 0, 'bad-payload': 0, replay: 0, 'too-old': 0, 'stale-epoch': 0,
  };
  /** Refused datagrams by source address (when accept() is told the source). */
  readonly sources = new SourceTable();
  /** The number of the latest change of state; `since` filters count from it. */
  rev = 0;
  private readonly tracks = new Map<string, Track>();
  private readonly listeners = new Set<(v: VmView, previous: VmState | null) => void>();
  private readonly now: () => number;

  constructor(private keys: KeySource, private readonly opts: ReceiverOptions = {}) {
    this.now = opts.now ?? (() => Number(process.hrtime.bigint() / 1_000_000n));
    if (opts.onChange) this.listeners.add(opts.onChange);
  }

  /** New keys (SIGHUP): VMs no longer listed are forgotten; the others keep their epochs. */
  setKeys(keys: KeySource): void {
    this.keys = keys;
    for (const id of [...this.tracks.keys()]) if (!this.entries(id)) this.tracks.delete(id);
  }

  /** Calls FN at every change of state; returns the call that stops it. */
  subscribe(fn: (v: VmView, previous: VmState | null) => void): () => void {
    this.listeners.add(fn);
    return () => { this.listeners.delete(fn); };
  }

  /** FROM, the source address, puts refusals in `sources`. */
  accept(d: Buffer, from?: string): Verdict {
    const v = this.verify(d);
    this.counters[v.ok ? 'ok' : v.why]++;
    if (!v.ok && from !== undefined && v.vmId !== undefined) this.sources.note(from, v.vmId, v.why);
    return v;
  }

  private entries(vmId: string): KeyEntry[] | undefined {
    return typeof this.keys === 'function' ? this.keys(vmId) : this.keys.get(vmId);
  }

  private verify(d: Buffer): Verdict {
    const h = readHeader(d);
    if (!h.ok) return h.why === 'old-version' ? { ok: false, why: h.why, vmId: h.vmId } : { ok: false, why: h.why };
    const { vmId, keyId } = h.header;
    const no = (why: Rejection): Verdict => ({ ok: false, why, vmId });
    const entries = this.entries(vmId);
    if (!entries) return no('unknown-vm');
    const wall = Date.now();
    // Every key of that id in its window: during a rotation two lines may share an id.
    const candidates = entries.filter((k) => k.keyId === keyId && (k.notAfter === undefined || wall <= k.notAfter));
    if (!candidates.length) { this.authFailure(vmId); return no('unknown-key'); }
    if (!candidates.some((k) => macIsValid(d, k.key))) { this.authFailure(vmId); return no('bad-mac'); }
    const payload = readPayload(d.toString('utf8', h.payloadStart, h.payloadEnd));
    if (!payload) return no('bad-payload');
    const now = this.now();
    const t = this.track(vmId);
    if (!t.live) {
      t.live = newEpoch(h.header, payload, now);
    } else if (h.header.epoch === t.live.id) {
      if (h.header.startCounter !== t.live.counter) return no('stale-epoch');
      const r = admit(t.live, h.header.seq, payload, now);
      if (r === 'replay' || r === 'too-old') return no(r);
    } else if (t.pending && h.header.epoch === t.pending.id) {
      if (h.header.startCounter !== t.pending.counter) return no('stale-epoch');
      const r = admit(t.pending, h.header.seq, payload, now);
      if (r === 'replay' || r === 'too-old') return no(r);
      if (takesOver(t.pending, t.live, now)) { t.live = t.pending; t.pending = null; }
    } else {
      // An epoch not seen yet: it must be ordered after the live one (and after a pending one).
      if (h.header.startCounter < t.live.counter || (t.pending && h.header.startCounter < t.pending.counter)) return no('stale-epoch');
      t.pending = newEpoch(h.header, payload, now);
      if (takesOver(t.pending, t.live, now)) { t.live = t.pending; t.pending = null; }
    }
    this.notify(vmId, t);
    return { ok: true, vmId };
  }

  private track(vmId: string): Track {
    let t = this.tracks.get(vmId);
    if (!t) {
      t = { live: null, pending: null, state: null, rev: 0, changedAt: null, authFailures: 0, lastAuthFailureAt: 0 };
      this.tracks.set(vmId, t);
    }
    return t;
  }

  /** A known VM's datagram that fails authentication: a key mismatch is its own state, never "dead". */
  private authFailure(vmId: string): void {
    const t = this.track(vmId);
    t.authFailures++;
    t.lastAuthFailureAt = this.now();
    this.notify(vmId, t);
  }

  /** Re-classifies every VM (call it periodically so that silence is noticed). */
  sweep(): void {
    for (const [vmId, t] of this.tracks) this.notify(vmId, t);
  }

  view(vmId: string): VmView | null {
    const t = this.tracks.get(vmId);
    if (t) return this.viewOf(vmId, t);
    return this.entries(vmId) ? this.neverSeen(vmId) : null;
  }

  /** Every VM with a key (never-seen ones too, when the keys are a map) and every VM tracked. */
  views(): VmView[] {
    const out: VmView[] = [];
    for (const [vmId, t] of this.tracks) out.push(this.viewOf(vmId, t));
    if (typeof this.keys !== 'function') for (const vmId of this.keys.keys()) if (!this.tracks.has(vmId)) out.push(this.neverSeen(vmId));
    return out;
  }

  private neverSeen(vmId: string): VmView {
    return { vmId, state: 'never-seen', reason: 'no heartbeat since the collector started', lastBeatAgoMs: null, epoch: '', startCounter: '0', seq: '0', payload: null as unknown as HeartbeatPayload, authFailures: 0, rev: 0, changedAt: null };
  }

  private viewOf(vmId: string, t: Track): VmView {
    const e = t.live;
    const age = e ? Math.max(0, this.now() - e.lastAt) : null;
    return {
      vmId, ...this.stateOf(t), lastBeatAgoMs: age, epoch: e?.id ?? '', startCounter: (e?.counter ?? 0n).toString(), seq: (e?.highest ?? 0n).toString(),
      payload: (e?.payload ?? null) as HeartbeatPayload, authFailures: t.authFailures, rev: t.rev, changedAt: t.changedAt === null ? null : new Date(t.changedAt).toISOString(),
    };
  }

  private stateOf(t: Track): { state: VmState; reason: string } {
    const now = this.now();
    const e = t.live;
    const age = e ? Math.max(0, now - e.lastAt) : Infinity;
    const interval = e?.payload.interval_ms ?? DEFAULT_INTERVAL_MS;
    // Failing authentication and no authentic beat for two intervals: the keys disagree.
    if (t.authFailures > 0 && now - t.lastAuthFailureAt < 3 * interval && age > 2 * interval) {
      return { state: 'auth-failing', reason: `${t.authFailures} datagrams failed authentication (key mismatch or rotation?)` };
    }
    if (!e) return { state: 'never-seen', reason: 'no authentic heartbeat yet' };
    return classify(e.payload, age, this.opts.silentAfterIntervals);
  }

  private notify(vmId: string, t: Track): void {
    const state = this.stateOf(t).state;
    if (state === t.state) return;
    const previous = t.state ?? (typeof this.keys === 'function' ? null : 'never-seen');
    t.state = state;
    t.rev = ++this.rev;
    t.changedAt = Date.now();
    if (!this.listeners.size) return;
    const v = this.viewOf(vmId, t);
    for (const fn of this.listeners) fn(v, previous);
  }
}

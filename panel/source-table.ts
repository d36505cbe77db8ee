// Rejected datagrams by source address: which address claims which VM id and why it was refused
// (an unknown VM id, an old agent, a wrong key, replays). Bounded: past MAX_SOURCES the address
// heard from least recently is forgotten, so spoofed sources cannot grow it.

export interface SourceEntry {
  address: string;
  /** The VM id the last refused datagram claimed (checked against the id pattern), or null. */
  vmId: string | null;
  /** Refused datagrams from this address, by reason. */
  counts: Record<string, number>;
  firstAt: string;
  lastAt: string;
}

interface Entry {
  vmId: string | null;
  counts: Record<string, number>;
  firstAt: number;
  lastAt: number;
}

export const MAX_SOURCES = 1024;

export class SourceTable {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly max = MAX_SOURCES) {}

  /** Returns true when ADDRESS is new in the table (worth one line in a log). */
  note(address: string, vmId: string | null, why: string): boolean {
    const now = Date.now();
    let e = this.entries.get(address);
    const fresh = !e;
    if (e) this.entries.delete(address); // re-inserted below: the Map's order is recency
    else {
      if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value as string);
      e = { vmId, counts: {}, firstAt: now, lastAt: now };
    }
    e!.vmId = vmId;
    e!.lastAt = now;
    e!.counts[why] = (e!.counts[why] ?? 0) + 1;
    this.entries.set(address, e!);
    return fresh;
  }

  /** Most recent first. */
  list(): SourceEntry[] {
    return [...this.entries].reverse().map(([address, e]) => ({
      address, vmId: e.vmId, counts: { ...e.counts }, firstAt: new Date(e.firstAt).toISOString(), lastAt: new Date(e.lastAt).toISOString(),
    }));
  }
}

// State changes as a stream (server-sent events), so a panel with 10,000 VMs follows changes
// instead of pulling the whole table. Each event carries its change number as the SSE id; a client
// that reconnects with Last-Event-ID (or ?since=N) gets what it missed from a bounded history, or
// a `reset` event when that is gone (then it reads /vms again). Clients and their unsent bytes are
// bounded: a client that does not read is disconnected, never buffered for.

import type * as http from 'http';
import { safeJson } from './guest-text';
import type { HeartbeatReceiver, VmView } from './heartbeat-receiver';
import type { VmState } from './vm-state';

export const MAX_CLIENTS = 64;
export const HISTORY = 4096;
/** Unsent bytes one client may have queued before it is dropped as too slow. */
export const MAX_CLIENT_BACKLOG = 1 << 20;
const KEEPALIVE_MS = 15_000;

interface Change {
  rev: number;
  text: string;
  state: VmState;
}

interface Client {
  res: http.ServerResponse;
  states: Set<string> | null;
}

export class ChangeFeed {
  private readonly history: Change[] = [];
  private readonly clients = new Set<Client>();
  private readonly keepalive: NodeJS.Timeout;

  constructor(private readonly r: HeartbeatReceiver) {
    r.subscribe((v, previous) => this.publish(v, previous));
    this.keepalive = setInterval(() => { for (const c of this.clients) this.write(c, ': keep-alive\n\n'); }, KEEPALIVE_MS);
    this.keepalive.unref();
  }

  /** GET /events[?state=a,b][&since=N], or with a Last-Event-ID header. */
  serve(req: http.IncomingMessage, res: http.ServerResponse, states: Set<string> | null, since: number | null): void {
    if (this.clients.size >= MAX_CLIENTS) {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '10' }).end(safeJson({ error: `at most ${MAX_CLIENTS} event streams at once` }) + '\n');
      return;
    }
    const last = req.headers['last-event-id'];
    const from = since ?? (typeof last === 'string' && /^\d{1,15}$/.test(last) ? Number(last) : null);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const c: Client = { res, states };
    this.clients.add(c);
    res.on('close', () => this.clients.delete(c));
    this.write(c, `retry: 2000\n\n`);
    if (from === null || from >= this.r.rev) return;
    const oldest = this.history.length ? this.history[0].rev : this.r.rev + 1;
    // Changes after FROM are partly gone: the client must read the table again.
    if (from + 1 < oldest) { this.write(c, `event: reset\ndata: ${safeJson({ rev: this.r.rev })}\n\n`); return; }
    for (const ch of this.history) if (ch.rev > from && (!states || states.has(ch.state))) this.write(c, ch.text);
  }

  get clientCount(): number {
    return this.clients.size;
  }

  close(): void {
    clearInterval(this.keepalive);
    for (const c of this.clients) c.res.destroy();
  }

  private publish(v: VmView, previous: VmState | null): void {
    const text = `id: ${v.rev}\nevent: state\ndata: ${safeJson({ previous, ...v })}\n\n`;
    this.history.push({ rev: v.rev, text, state: v.state });
    // Trimmed in batches: one shift of thousands of entries per change would cost more than it keeps.
    if (this.history.length > HISTORY + HISTORY / 4) this.history.splice(0, this.history.length - HISTORY);
    for (const c of this.clients) if (!c.states || c.states.has(v.state)) this.write(c, text);
  }

  private write(c: Client, text: string): void {
    if (c.res.writableLength > MAX_CLIENT_BACKLOG) { c.res.destroy(); this.clients.delete(c); return; }
    c.res.write(text);
  }
}

// A careful qemu-ga client for the panel: resynchronises the qemu-ga way before the first command
// and after any timeout (0xFF, guest-sync-delimited with a random id, everything before that
// reply dropped), gives each command a timeout, and retries mutating commands with the same
// idempotency key after a timeout or a lost connection. Every byte from the guest is hostile:
// replies are size-capped, garbage is skipped, nothing the guest sends can crash the client.

import * as crypto from 'crypto';
import * as net from 'net';

export const MAX_REPLY = 16 << 20;

export class AgentError extends Error {
  constructor(readonly cls: string, readonly desc: string) { super(`${cls}: ${desc}`); }
}

export class AgentTimeout extends Error {}

/** Long-running commands get long timeouts (Proxmox's choices for freeze, thaw, trim, shutdown). */
export function defaultTimeoutMs(cmd: string): number {
  if (cmd === 'guest-fsfreeze-freeze' || cmd === 'guest-fsfreeze-freeze-list') return 3_600_000;
  if (cmd === 'guest-fsfreeze-thaw') return 180_000;
  if (cmd === 'guest-fstrim' || cmd === 'guest-shutdown') return 600_000;
  return 5000;
}

export interface ClientOptions {
  /** The agent's unix socket, or the host side of QEMU's virtio-serial chardev. */
  path: string;
  connectTimeoutMs?: number;
  /** Attempts for a command (the first included) before giving up. */
  attempts?: number;
}

export class AgentClient {
  private sock: net.Socket | null = null;
  private parts: Buffer[] = [];
  private partLen = 0;
  private lines: Buffer[] = [];
  private waiter: ((line: Buffer | null) => void) | null = null;
  private synced = false;
  private skipping = false;
  readonly stats = { resyncs: 0, retries: 0, discarded: 0, oversized: 0 };

  constructor(private readonly o: ClientOptions) {}

  close(): void {
    this.sock?.destroy();
    this.sock = null;
    this.synced = false;
  }

  /** Runs a command; mutating commands pass `mutating` to get an idempotency key and retries. */
  async call(cmd: string, args?: Record<string, unknown>, opts: { timeoutMs?: number; mutating?: boolean; noReply?: boolean } = {}): Promise<unknown> {
    const key = opts.mutating ? `ctl-${crypto.randomBytes(9).toString('base64url')}` : undefined;
    const full = key ? { ...args, 'idempotency-key': key } : args;
    const attempts = this.o.attempts ?? (opts.mutating ? 4 : 2);
    let last: Error | null = null;
    for (let i = 0; i < attempts; i++) {
      if (i > 0) this.stats.retries++;
      try {
        await this.ensureSynced();
        const id = crypto.randomBytes(6).toString('hex');
        this.send(JSON.stringify(full === undefined ? { execute: cmd, id } : { execute: cmd, arguments: full, id }));
        if (opts.noReply) return null;
        for (;;) {
          const reply = await this.nextObject(opts.timeoutMs ?? defaultTimeoutMs(cmd));
          if (reply.id !== id) { this.stats.discarded++; continue; } // a stale reply from before a timeout
          if ('error' in reply) {
            const e = reply.error as { class?: unknown; desc?: unknown };
            throw new AgentError(String(e?.class ?? 'GenericError'), String(e?.desc ?? 'no description'));
          }
          return reply.return;
        }
      } catch (e) {
        if (e instanceof AgentError) throw e;
        last = e as Error;
        // Lost or late: the stream is in an unknown state; resynchronise before the next try.
        this.synced = false;
        if (!(e instanceof AgentTimeout)) this.close();
        if (!opts.mutating && !(e instanceof AgentTimeout) && i + 1 >= attempts) break;
      }
    }
    throw last ?? new Error('no reply');
  }

  private async ensureSynced(): Promise<void> {
    if (!this.sock) await this.connect();
    if (this.synced) return;
    this.stats.resyncs++;
    // A random 64-bit id as decimal text: the agent must echo it digit for digit.
    const id = BigInt('0x' + crypto.randomBytes(8).toString('hex')) >> 1n;
    this.sock!.write(Buffer.from([0xff]));
    this.send(`{"execute":"guest-sync-delimited","arguments":{"id":${id}}}`);
    const want = `{"return":${id}}`;
    const end = Date.now() + 5000;
    for (;;) {
      const line = await this.nextLine(Math.max(1, end - Date.now()));
      if (!line) throw new AgentTimeout('no answer to guest-sync-delimited');
      const text = line.toString('latin1').replace(/^\xff/, '').replace(/\s+/g, '');
      if (text === want) break;
      this.stats.discarded++;
    }
    this.synced = true;
  }

  private connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = net.connect(this.o.path);
      const t = setTimeout(() => { s.destroy(); reject(new Error(`connect ${this.o.path}: timeout`)); }, this.o.connectTimeoutMs ?? 3000);
      s.once('connect', () => { clearTimeout(t); this.sock = s; this.parts = []; this.partLen = 0; this.lines = []; this.skipping = false; resolve(); });
      s.once('error', (e) => { clearTimeout(t); reject(e); });
      s.on('data', (d: Buffer) => this.onData(d));
      s.on('close', () => { if (this.sock === s) { this.sock = null; this.synced = false; } this.waiter?.(null); this.waiter = null; });
      s.on('error', () => { /* close follows */ });
    });
  }

  private send(text: string): void {
    if (!this.sock) throw new Error('not connected');
    this.sock.write(text + '\n');
  }

  private onData(d: Buffer): void {
    let chunk = d;
    for (;;) {
      const nl = chunk.indexOf(0x0a);
      if (nl < 0) {
        if (this.skipping) return;
        if (this.partLen + chunk.length > MAX_REPLY) {
          // A reply beyond the cap: drop it, and resynchronise before the next command.
          this.stats.oversized++;
          this.parts = [];
          this.partLen = 0;
          this.skipping = true;
          this.synced = false;
          return;
        }
        this.parts.push(chunk);
        this.partLen += chunk.length;
        return;
      }
      if (!this.skipping) this.lines.push(this.parts.length ? Buffer.concat([...this.parts, chunk.subarray(0, nl)]) : chunk.subarray(0, nl));
      this.skipping = false;
      this.parts = [];
      this.partLen = 0;
      chunk = chunk.subarray(nl + 1);
      this.deliver();
    }
  }

  private deliver(): void {
    if (!this.waiter || !this.lines.length) return;
    const w = this.waiter;
    this.waiter = null;
    w(this.lines.shift()!);
  }

  private nextLine(timeoutMs: number): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.waiter = null; reject(new AgentTimeout(`no reply within ${timeoutMs} ms`)); }, timeoutMs);
      this.waiter = (l) => { clearTimeout(t); if (l === null) reject(new Error('the agent closed the connection')); else resolve(l); };
      this.deliver();
    });
  }

  private async nextObject(timeoutMs: number): Promise<Record<string, unknown>> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const line = await this.nextLine(Math.max(1, end - Date.now()));
      try {
        const v = JSON.parse(line!.toString('utf8').replace(/^\xff/, '')) as unknown;
        if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
      } catch { /* garbage from the guest: skip the line */ }
      this.stats.discarded++;
    }
  }
}

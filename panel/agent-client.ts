// A careful qemu-ga client for the panel: resynchronises the qemu-ga way before the first command
// and after any trouble (0xFF, guest-sync-delimited with a random id, everything before that
// reply dropped), gives each call one deadline that covers connecting, syncing, retrying and the
// reply, and retries mutating commands with the same idempotency key after a lost connection.
// Every byte from the guest is hostile: the socket is read only while a call waits for a line;
// each line is measured (bytes, nesting, values) before it is parsed (reply-reader.ts); a call
// that meets more lines that are not its reply than it could ever need disconnects.

import * as crypto from 'crypto';
import * as net from 'net';
import { DEFAULT_LIMITS, Line, OverLimit, ReplyLimits, ReplyReader } from './reply-reader';

export const MAX_REPLY = DEFAULT_LIMITS.maxBytes;
/** Lines that are not the awaited one (stale replies, garbage, blank lines) before a disconnect. */
export const MAX_JUNK_LINES = 1024;
/** A sync reply is `\xff{"return":ID}` with an id of at most 20 digits: longer lines are not it. */
const SYNC_LINE_BYTES = 128;

export class AgentError extends Error {
  constructor(readonly cls: string, readonly desc: string) { super(`${cls}: ${desc}`); }
}

export class AgentTimeout extends Error {}

/** The reply to a command is over a limit and cannot be read: not retried (it would be again). */
export class AgentProtocolError extends Error {}

/** Long-running commands get long timeouts (Proxmox's choices for freeze, thaw, trim, shutdown). */
export function defaultTimeoutMs(cmd: string): number {
  if (cmd === 'guest-fsfreeze-freeze' || cmd === 'guest-fsfreeze-freeze-list') return 3_600_000;
  if (cmd === 'guest-fsfreeze-thaw') return 180_000;
  if (cmd === 'guest-fstrim' || cmd === 'guest-shutdown') return 600_000;
  // Each of its tools may take up to 10 minutes (resize2fs of a large file system).
  if (cmd === 'phoenix-grow-filesystem') return 900_000;
  return 5000;
}

export interface ClientOptions {
  /** The agent's unix socket, or the host side of QEMU's virtio-serial chardev. */
  path: string;
  connectTimeoutMs?: number;
  /** Attempts for a command (the first included) before giving up, all within its deadline. */
  attempts?: number;
  /** Limits on one reply, checked before it is parsed. */
  limits?: Partial<ReplyLimits>;
}

export interface CallOptions {
  /** The whole call: connect, sync, retries and reply. */
  timeoutMs?: number;
  /** Gets an idempotency key and is retried with it after a lost connection. */
  mutating?: boolean;
  /** The idempotency key to use: pass the same one to retry a call that timed out, later. */
  key?: string;
  noReply?: boolean;
}

export class AgentClient {
  private sock: net.Socket | null = null;
  private readonly reader = new ReplyReader();
  private readonly limits: ReplyLimits;
  private synced = false;
  private onClosed: (() => void) | null = null;
  readonly stats = { resyncs: 0, retries: 0, discarded: 0, oversized: 0, disconnects: 0 };

  constructor(private readonly o: ClientOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...o.limits };
  }

  close(): void {
    this.sock?.destroy();
    this.sock = null;
    this.synced = false;
  }

  /** Runs a command; mutating commands pass `mutating` to get an idempotency key and retries. */
  async call(cmd: string, args?: Record<string, unknown>, opts: CallOptions = {}): Promise<unknown> {
    const timeoutMs = opts.timeoutMs ?? defaultTimeoutMs(cmd);
    const deadline = Date.now() + timeoutMs;
    const key = opts.mutating ? opts.key ?? `ctl-${crypto.randomBytes(9).toString('base64url')}` : undefined;
    const full = key ? { ...args, 'idempotency-key': key } : args;
    const attempts = this.o.attempts ?? (opts.mutating ? 4 : 2);
    let last: Error | null = null;
    for (let i = 0; i < attempts && Date.now() < deadline; i++) {
      if (i > 0) { this.stats.retries++; await pause(Math.min(100 * i, deadline - Date.now())); }
      try {
        await this.ensureSynced(deadline, timeoutMs);
        const id = crypto.randomBytes(6).toString('hex');
        this.send(JSON.stringify(full === undefined ? { execute: cmd, id } : { execute: cmd, arguments: full, id }));
        if (opts.noReply) return null;
        const reply = await this.expect(deadline, timeoutMs, false, (line) => {
          const v = parseObject(line);
          return v && v.id === id ? v : undefined; // else a stale reply from before a timeout, or garbage
        });
        if ('error' in reply) {
          const e = reply.error as { class?: unknown; desc?: unknown } | null;
          throw new AgentError(String(e?.class ?? 'GenericError'), String(e?.desc ?? 'no description'));
        }
        return reply.return;
      } catch (e) {
        if (e instanceof AgentError) throw e;
        // Lost, late or refused: the stream is in an unknown state; resynchronise before the next call.
        this.synced = false;
        if (e instanceof AgentProtocolError) { this.close(); throw e; }
        if (e instanceof AgentTimeout) throw e;
        last = e as Error;
        this.close();
      }
    }
    throw last ?? new AgentTimeout(`no reply within ${timeoutMs} ms`);
  }

  private async ensureSynced(deadline: number, timeoutMs: number): Promise<void> {
    if (!this.sock) await this.connect(deadline);
    if (this.synced) return;
    this.stats.resyncs++;
    // A random 63-bit id as decimal text: the agent must echo it digit for digit.
    const id = BigInt('0x' + crypto.randomBytes(8).toString('hex')) >> 1n;
    this.sock!.write(Buffer.from([0xff]));
    this.send(`{"execute":"guest-sync-delimited","arguments":{"id":${id}}}`);
    const want = `{"return":${id}}`;
    await this.expect(deadline, timeoutMs, true, (line) =>
      (line.toString('latin1').replace(/^\xff/, '').replace(/\s+/g, '') === want ? true : undefined));
    this.synced = true;
  }

  private connect(deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = net.connect(this.o.path);
      const wait = Math.max(0, Math.min(this.o.connectTimeoutMs ?? 3000, deadline - Date.now()));
      const t = setTimeout(() => { s.destroy(); reject(new Error(`connect ${this.o.path}: no connection within ${wait} ms`)); }, wait);
      s.once('connect', () => { clearTimeout(t); this.sock = s; this.reader.reset(); s.pause(); resolve(); });
      s.once('error', (e) => { clearTimeout(t); reject(e); });
      s.on('data', (d: Buffer) => this.reader.push(d));
      s.on('close', () => { if (this.sock === s) { this.sock = null; this.synced = false; this.onClosed?.(); } });
      s.on('error', () => { /* close follows */ });
    });
  }

  private send(text: string): void {
    if (!this.sock) throw new Error('not connected');
    this.sock.write(text + '\n');
  }

  /**
   * Reads lines until MATCH returns a value, the deadline passes, the connection closes, a reply
   * goes over the limits (it cannot be read: refused, not retried) or too many lines are junk.
   */
  private expect<T>(deadline: number, timeoutMs: number, syncing: boolean, match: (line: Buffer) => T | undefined): Promise<T> {
    const limits = syncing ? { ...this.limits, maxBytes: SYNC_LINE_BYTES } : this.limits;
    const sock = this.sock;
    if (!sock) return Promise.reject(new Error('the agent closed the connection'));
    return new Promise<T>((resolve, reject) => {
      let junk = 0;
      const finish = (err: Error | null, v?: T): void => {
        clearTimeout(timer);
        this.onClosed = null;
        this.reader.want(null);
        // Between calls nothing is read: what the guest sends then waits in the kernel's buffer.
        sock.pause();
        if (err) reject(err); else resolve(v as T);
      };
      const timer = setTimeout(() => finish(new AgentTimeout(`no reply within ${timeoutMs} ms`)), Math.max(0, deadline - Date.now()));
      this.onClosed = () => finish(new Error('the agent closed the connection'));
      this.reader.want((l: Line) => {
        if (l.ok) {
          const v = match(l.line);
          if (v !== undefined) { finish(null, v); return false; }
        } else {
          this.stats.oversized++;
          // While syncing, anything long is a stale reply; the reply to a command cannot be read.
          if (!syncing) { finish(new AgentProtocolError(`the agent's reply was refused: ${describeOver(l.over, limits)}`)); return false; }
        }
        this.stats.discarded++;
        if (++junk > MAX_JUNK_LINES) {
          this.stats.disconnects++;
          // A fresh connection starts a clean stream: retried like a lost connection.
          finish(new Error(`the agent sent more than ${MAX_JUNK_LINES} lines that were not the reply; disconnected`));
          return false;
        }
        return true;
      }, limits);
      if (this.reader.wanting) sock.resume();
    });
  }
}

function describeOver(over: OverLimit, l: ReplyLimits): string {
  if (over === 'bytes') return `longer than ${l.maxBytes} bytes`;
  if (over === 'depth') return `nested deeper than ${l.maxDepth}`;
  if (over === 'containers') return `more than ${l.maxContainers} arrays and objects`;
  return `more than ${l.maxValues} values`;
}

function parseObject(line: Buffer): Record<string, unknown> | null {
  try {
    const v = JSON.parse(line.toString('utf8').replace(/^\xff/, '')) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : null;
  } catch {
    return null;
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

// A minimal qemu-ga client for tests: raw writes, line-by-line replies, and request() with a
// timeout. It treats 0xFF as a delimiter, as a real client must.

import * as net from 'net';

/** The agent closed the connection before replying. */
export class ConnectionClosed extends Error {
  constructor() { super('connection closed by the agent'); }
}

export class QgaClient {
  private buf = Buffer.alloc(0);
  private waiters: Array<{ ok: (line: string) => void; fail: (e: Error) => void }> = [];
  readonly lines: string[] = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d) => this.onData(d));
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w.fail(new ConnectionClosed());
    });
    socket.on('error', () => { /* close follows */ });
  }

  static connect(path: string, timeoutMs = 3000): Promise<QgaClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path);
      const t = setTimeout(() => { s.destroy(); reject(new Error(`connect ${path}: timeout`)); }, timeoutMs);
      s.once('connect', () => { clearTimeout(t); resolve(new QgaClient(s)); });
      s.once('error', (e) => { clearTimeout(t); reject(e); });
    });
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    let nl: number;
    while ((nl = this.buf.indexOf(0x0a)) >= 0) {
      const line = this.buf.subarray(0, nl).toString('latin1');
      this.buf = this.buf.subarray(nl + 1);
      const w = this.waiters.shift();
      if (w) w.ok(line); else this.lines.push(line);
    }
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  }

  /** The next reply line (raw, 0xFF prefix kept as "\xff"). */
  nextLine(timeoutMs = 3000): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.closed) return Promise.reject(new ConnectionClosed());
    return new Promise((resolve, reject) => {
      const w = {
        ok: (l: string): void => { clearTimeout(t); resolve(l); },
        fail: (e: Error): void => { clearTimeout(t); reject(e); },
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  async next(timeoutMs = 3000): Promise<any> {
    const l = await this.nextLine(timeoutMs);
    return JSON.parse(l.replace(/^\xff/, ''));
  }

  async request(execute: string, args?: unknown, timeoutMs = 3000): Promise<any> {
    this.write(JSON.stringify(args === undefined ? { execute } : { execute, arguments: args }));
    return this.next(timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}

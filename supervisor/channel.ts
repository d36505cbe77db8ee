// The command channel, opened once by the supervisor for the life of the service.
//
// A virtio-serial port allows a single opener (EBUSY for a second), and the guest kernel drops
// unread data when it is closed: the supervisor opens it once and every worker generation inherits
// the same descriptor (fd 4), so the host does not see the port close across worker restarts. The
// one exception is a worker that died inside a read or a write of the port (see reply-ledger.ts):
// then the supervisor reopens it, on purpose.
// A unix socket is listened on here; accepted connections are handed, unread, to the current
// worker over IPC, and wait here (bounded) while no worker is ready.

import { spawnSync } from 'child_process';
import fs = require('fs');
import net = require('net');
import type { Logger } from './log';

export type ChannelState = 'listening' | 'open' | 'absent' | 'busy' | 'error' | 'closed';

export interface Channel {
  readonly kind: 'unix' | 'serial';
  readonly path: string;
  state(): ChannelState;
  /** The serial port's descriptor, to be inherited by the worker; null for unix or while not open. */
  serialFd(): number | null;
  /** Serial: writes what the port takes now without waiting (it is non-blocking); returns the rest. */
  writeNow(text: string): string;
  /**
   * Serial, with no worker holding the port: closes it and opens it again, so the host sees the
   * agent go and come back (virtio: the port's guest side closes; libvirt fails the call it waits
   * on and synchronises again). Unread input is dropped by the guest kernel.
   */
  reopen(): void;
  close(): void;
}

export interface ChannelEvents {
  /** A unix connection accepted and not yet read from. */
  connection(socket: net.Socket): void;
  /** The serial port became open after having been absent or busy. */
  opened(): void;
}

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;

/**
 * An ISA serial port (Proxmox `agent: type=isa`) starts in the tty's cooked mode (echo, line
 * editing, CR/LF translation, XON/XOFF): make it a raw byte stream as qemu-ga does, through
 * stty(1) on our descriptor (Node has no termios).
 */
function makeRaw(fd: number): string | null {
  const r = spawnSync('stty', ['raw', '-echo', '-echoe', '-echok', '-echonl', '-iexten', '-ixany', '-imaxbel', 'min', '1', 'time', '0', '38400'], { stdio: [fd, 'ignore', 'pipe'], encoding: 'utf8' });
  return r.status === 0 ? null : (r.stderr || r.error?.message || `exit ${r.status}`).trim();
}

export function openSerialChannel(path: string, events: ChannelEvents, log: Logger, tty = false): Channel {
  let fd: number | null = null;
  let state: ChannelState = 'absent';
  let timer: NodeJS.Timeout | null = null;
  let retryMs = RETRY_MIN_MS;
  let attempts = 0;
  const tryOpen = (): void => {
    timer = null;
    attempts++;
    try {
      const c = fs.constants;
      fd = fs.openSync(path, c.O_RDWR | c.O_NOCTTY | c.O_NONBLOCK);
      const err = tty ? makeRaw(fd) : null;
      if (err) log.log('warn', 'channel', `${path}: cannot set raw mode (${err}); bytes may be echoed or translated`);
      state = 'open';
      log.log('info', 'channel', `opened ${path}`);
      if (attempts > 1) events.opened();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const next: ChannelState = code === 'ENOENT' ? 'absent' : code === 'EBUSY' || code === 'EMFILE' ? 'busy' : 'error';
      if (next !== state || attempts === 1) {
        const hint = next === 'busy' ? ' (another process holds the port; is qemu-guest-agent running?)' : '';
        log.log('warn', 'channel', `cannot open ${path}: ${code ?? (e as Error).message}${hint}; retrying`);
      }
      state = next;
      timer = setTimeout(tryOpen, retryMs);
      retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
    }
  };
  tryOpen();
  return {
    kind: 'serial',
    path,
    state: () => state,
    serialFd: () => fd,
    writeNow(text) {
      let off = 0;
      try {
        while (fd !== null && off < text.length) off += fs.writeSync(fd, off ? text.slice(off) : text, null, 'latin1');
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EAGAIN') log.log('warn', 'channel', `writing to ${path}: ${code ?? (e as Error).message}`);
      }
      return text.slice(off);
    },
    reopen() {
      if (fd === null) return;
      fs.closeSync(fd);
      fd = null;
      attempts = 0;
      retryMs = RETRY_MIN_MS;
      tryOpen();
    },
    close() {
      if (timer) clearTimeout(timer);
      if (fd !== null) fs.closeSync(fd);
      fd = null;
      state = 'closed';
    },
  };
}

/** True when something accepts connections on PATH. */
function isServed(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

/**
 * Listens on PATH. Returns at once (the worker can be spawned meanwhile); `ready` settles when
 * the socket listens. A socket file left by a dead process is replaced; a live one is an error.
 */
export function openUnixChannel(path: string, events: ChannelEvents, log: Logger): Channel & { ready: Promise<void> } {
  const server = net.createServer({ pauseOnConnect: true }, (s) => events.connection(s));
  let state: ChannelState = 'absent';
  const listen = (): Promise<void> => new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => { server.off('error', reject); resolve(); });
  });
  const ready = listen().catch(async (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EADDRINUSE') throw e;
    if (!fs.lstatSync(path).isSocket()) throw new Error(`${path} exists and is not a socket`);
    if (await isServed(path)) throw new Error(`${path} is already served by another process`);
    fs.unlinkSync(path);
    await listen();
  }).then(() => {
    fs.chmodSync(path, 0o600);
    server.on('error', (e) => log.log('error', 'channel', `unix socket ${path}: ${e.message}`));
    state = 'listening';
    log.log('info', 'channel', `listening on ${path}`);
  });
  return {
    kind: 'unix',
    path,
    ready,
    state: () => state,
    serialFd: () => null,
    writeNow: (text) => text,
    reopen: () => undefined,
    close() {
      server.close();
      if (state === 'listening') try { fs.unlinkSync(path); } catch { /* gone */ }
      state = 'closed';
    },
  };
}

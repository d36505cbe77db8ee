// Sends the heartbeat datagram. The key comes from a root-only file, read at start and again on a
// reload (SIGHUP, phoenix-set-config); the collector and the VM id are read from the live settings
// at each beat, so the epoch and the sequence go on across changes. Without a key or a collector
// the supervisor runs on and says why. Sending never throws: a lost beat is only a lost beat.

import type * as dgramModule from 'dgram';
import fs = require('fs');
import util = require('util');
import { readPrivateFile } from './atomic-file';
import { nextStartCounter } from './heartbeat-counter';
import { encodeHeartbeat, HeartbeatPayload, KEY_ID_PATTERN, randomEpoch } from './heartbeat-packet';
import type { Logger } from './log';
import { fileProblem, Settings } from './settings';

/** 32 to 128 bytes of key, as hex. */
export const KEY_HEX = /^(?:[0-9a-fA-F]{2}){32,128}$/;

export interface HeartbeatKey {
  id: string;
  key: Buffer;
}

/**
 * Reads "KEYID HEX" or "HEX" (at least 32 bytes of key). Refuses a file that another user owns or
 * that group or others can read, as ssh does with private keys. Errors never contain key material.
 */
export function readHeartbeatKey(file: string): HeartbeatKey {
  const problem = fileProblem(fs.statSync(file), file, 0o077);
  if (problem) throw new Error(problem);
  // Through a symlink if the operator made one; a FIFO or a device is refused, not read.
  const words = readPrivateFile(file, 4096, true).trim().split(/\s+/);
  const [id, hex] = words.length === 2 ? words : ['', words[0]];
  if (words.length > 2 || !KEY_ID_PATTERN.test(id)) throw new Error(`${file}: expected 'KEYID HEXKEY' or 'HEXKEY' on one line`);
  if (!KEY_HEX.test(hex ?? '')) throw new Error(`${file}: the key must be 64 to 256 hex digits (32 to 128 bytes)`);
  return { id, key: Buffer.from(hex, 'hex') };
}

export interface HeartbeatSender {
  readonly epoch: string;
  readonly enabled: boolean;
  send(payload: HeartbeatPayload): void;
  /** A new epoch (and start counter) from the next beat on: this machine turned out to be another one. */
  renew(): void;
  /** Reads the key file again (a reload); a file that fails keeps the key in use. */
  reload(): void;
  /** Closes the socket once the beats in flight are sent (the last, `stopping` one above all). */
  close(): Promise<void>;
}

/** S is the supervisor's live settings: heartbeat, heartbeat-key-file and vm-id may change under it. */
export function createHeartbeatSender(s: Settings, log: Logger): HeartbeatSender {
  const warn = (m: string) => log.log('warn', 'heartbeat', m);
  let epoch: string | null = null;
  const getEpoch = (): string => (epoch ??= randomEpoch());
  let key: HeartbeatKey | null = null;
  let socket: UdpSocket | null = null;
  let seq = 0n;
  let counter: bigint | null = null;
  let inFlight = 0;
  let drained = () => {};
  let warned = false;
  const load = (again?: boolean): void => {
    // The collector may now be of the other address family: the next beat makes a new socket.
    socket?.close();
    socket = null;
    if (!s.heartbeat) return warn('heartbeats are off: no collector is configured (heartbeat = HOST:PORT)');
    try {
      key = readHeartbeatKey(s.heartbeatKeyFile);
      if (again) log.log('info', 'heartbeat', `key reloaded (key id '${key.id}')`);
    } catch (e) {
      warn(`${key ? 'key not reloaded, the old one stays' : 'heartbeats are off: no usable key'}: ${(e as Error).message}`);
    }
  };
  load();
  return {
    get epoch() { return getEpoch(); },
    get enabled() { return key !== null && s.heartbeat !== null; },
    send(payload) {
      const k = key;
      const target = s.heartbeat;
      if (!k || !target) return;
      // Created on the first beat, after the worker's spawn (see heartbeat-packet.ts).
      socket ??= udpSocket(target.host.includes(':'));
      seq += 1n;
      const d = encodeHeartbeat({ vmId: s.vmId, keyId: k.id, startCounter: counter ??= nextStartCounter(s.stateDir, warn), epoch: getEpoch(), seq, payload }, k.key);
      inFlight++;
      socket.send(d, target.port, target.host, (err) => {
        if (err && !warned) { warned = true; warn(`send failed: ${err}`); }
        if (--inFlight === 0) drained();
      });
    },
    renew() { epoch = counter = null; seq = 0n; },
    reload: () => load(true),
    close() {
      return new Promise((resolve) => {
        const done = () => { socket?.close(); socket = null; resolve(); };
        if (!inFlight) return done();
        drained = done;
        setTimeout(done, 500).unref();
      });
    },
  };
}

/** Sends a datagram; DONE gets dgram's error text (\"send ECODE HOST:PORT\"), or null once sent. */
interface UdpSocket {
  send(d: Buffer, port: number, host: string, done: (err: string | null) => void): void;
  close(): void;
}

interface UdpHandle { send(...a: unknown[]): number; send6(...a: unknown[]): number; unref(): void; close(): void }
interface UdpBinding { UDP: new () => UdpHandle; SendWrap: new () => { oncomplete?: (status: number) => void } }

/**
 * The libuv UDP handle used directly, as the agent's channels use their stream handles: dgram.send
 * costs more than the send itself (address lookup, send list, callback on the next tick), 0.3 ms
 * of the 10-second tick. dgram where the binding is missing. process.binding is deprecated: checked
 * on Node 16 and 20 by the tests.
 */
export function udpSocket(v6: boolean): UdpSocket {
  let b: UdpBinding | undefined;
  try { b = (process as unknown as { binding(n: string): UdpBinding }).binding('udp_wrap'); } catch { /* dgram below */ }
  if (!b?.SendWrap) {
    const sock = (require('dgram') as typeof dgramModule).createSocket(v6 ? 'udp6' : 'udp4');
    sock.on('error', () => { /* ICMP errors and the like: the next beat tries again */ });
    sock.unref();
    return { send: (d, port, host, done) => sock.send(d, port, host, (e) => done(e ? e.message : null)), close: () => sock.close() };
  }
  const { SendWrap } = b;
  const h = new b.UDP();
  h.unref();
  return {
    send(d, port, host, done) {
      const req = new SendWrap() as InstanceType<UdpBinding['SendWrap']> & { list?: Buffer[] };
      const end = (rc: number) => done(rc < 0 ? `send ${util.getSystemErrorName(rc)} ${host}:${port}` : null);
      req.oncomplete = end;
      // libuv keeps only a pointer into the bytes: a queued send (a full socket buffer) needs them
      // alive until it completes, as dgram keeps them, or a collection frees what is sent.
      req.list = [d];
      // As dgram does: the length + 1 when sent at once, 0 when queued (oncomplete follows), or -errno.
      const rc = (v6 ? h.send6 : h.send).call(h, req, req.list, 1, port, host, true);
      if (rc !== 0) end(rc);
    },
    close: () => h.close(),
  };
}

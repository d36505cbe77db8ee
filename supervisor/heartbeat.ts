// Sends the heartbeat datagram. The key is read once from a root-only file; without a key or a
// collector the supervisor runs on and says why once. Sending never throws: a lost beat is
// only a lost beat.

import type * as dgramModule from 'dgram';
import * as fs from 'fs';
import { encodeHeartbeat, HeartbeatPayload, KEY_ID_PATTERN, randomEpoch } from './heartbeat-packet';
import type { Logger } from './log';

export interface HeartbeatKey {
  id: string;
  key: Buffer;
}

/**
 * Reads "KEYID HEX" or "HEX" (at least 32 bytes of key). Refuses a file that group or others can
 * read, as ssh does with private keys. Errors never contain key material.
 */
export function readHeartbeatKey(file: string): HeartbeatKey {
  const st = fs.statSync(file);
  if (st.mode & 0o077) throw new Error(`${file} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  const words = fs.readFileSync(file, 'utf8').trim().split(/\s+/);
  const [id, hex] = words.length === 2 ? words : ['', words[0]];
  if (words.length > 2 || !KEY_ID_PATTERN.test(id)) throw new Error(`${file}: expected 'KEYID HEXKEY' or 'HEXKEY' on one line`);
  if (!/^(?:[0-9a-fA-F]{2}){32,128}$/.test(hex ?? '')) throw new Error(`${file}: the key must be 64 to 256 hex digits (32 to 128 bytes)`);
  return { id, key: Buffer.from(hex, 'hex') };
}

export interface HeartbeatSender {
  readonly epoch: string;
  readonly enabled: boolean;
  send(payload: HeartbeatPayload): void;
  close(): void;
}

export function createHeartbeatSender(opts: {
  target: { host: string; port: number } | null;
  keyFile: string;
  vmId: string;
  log: Logger;
}): HeartbeatSender {
  let epoch: string | null = null;
  const getEpoch = (): string => (epoch ??= randomEpoch());
  let key: HeartbeatKey | null = null;
  let why = '';
  if (!opts.target) why = 'no collector is configured (heartbeat = HOST:PORT)';
  else {
    try {
      key = readHeartbeatKey(opts.keyFile);
    } catch (e) {
      why = `no usable key: ${(e as Error).message}`;
    }
  }
  if (!key || !opts.target) {
    opts.log.log('warn', 'heartbeat', `heartbeats are off: ${why}`);
    return { get epoch() { return getEpoch(); }, enabled: false, send() {}, close() {} };
  }
  const target = opts.target;
  let socket: dgramModule.Socket | null = null;
  let seq = 0n;
  let warned = false;
  const k = key;
  return {
    get epoch() { return getEpoch(); },
    enabled: true,
    send(payload) {
      if (!socket) {
        // Created on the first beat, after the worker's spawn (see heartbeat-packet.ts).
        socket = (require('dgram') as typeof dgramModule).createSocket(target.host.includes(':') ? 'udp6' : 'udp4');
        socket.on('error', () => { /* ICMP errors and the like: the next beat tries again */ });
        socket.unref();
      }
      seq += 1n;
      const d = encodeHeartbeat({ vmId: opts.vmId, keyId: k.id, epoch: getEpoch(), seq, payload }, k.key);
      socket.send(d, target.port, target.host, (err) => {
        if (err && !warned) { warned = true; opts.log.log('warn', 'heartbeat', `send failed: ${err.message}`); }
      });
    },
    close() { socket?.close(); },
  };
}

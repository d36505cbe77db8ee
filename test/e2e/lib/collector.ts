// A heartbeat collector on the host for VMs whose VM ids the test does not know in advance (the
// default VM id is the guest's machine id, which a clone makes anew): one key for every VM id. Each
// authentic datagram is logged with its header, whatever the panel's receiver library makes of
// its epoch, and is also given to that library, whose view is what a panel would show.

import * as crypto from 'crypto';
import * as dgram from 'dgram';
import { HeartbeatReceiver } from '../../../panel/heartbeat-receiver';
import { readPayload } from '../../../panel/heartbeat-payload';
import { HeartbeatPayload, macIsValid, readHeader } from '../../../supervisor/heartbeat-packet';
import { waitFor } from '../../helpers/agent';

export interface Beat {
  /** Host time of arrival (Date.now()). */
  at: number;
  vmId: string;
  epoch: string;
  counter: bigint;
  seq: bigint;
  payload: HeartbeatPayload;
}

export interface Collector {
  /** On 127.0.0.1: the guest sends to 10.0.2.2:port through slirp. */
  port: number;
  keyId: string;
  /** The key as phoenix-set-config takes it. */
  keyHex: string;
  beats: Beat[];
  receiver: HeartbeatReceiver;
  /** The first beat from index FROM on that PRED accepts. */
  waitBeat(what: string, pred: (b: Beat) => boolean, from?: number, timeoutMs?: number): Promise<Beat>;
  close(): void;
}

export async function startCollector(): Promise<Collector> {
  const key = crypto.randomBytes(32);
  const keyId = 'k1';
  const receiver = new HeartbeatReceiver(() => [{ keyId, key }]);
  const beats: Beat[] = [];
  const socket = dgram.createSocket('udp4');
  socket.on('message', (d) => {
    const h = readHeader(d);
    if (!h.ok || h.header.keyId !== keyId || !macIsValid(d, key)) return;
    const payload = readPayload(d.toString('utf8', h.payloadStart, h.payloadEnd));
    if (!payload) return;
    receiver.accept(d);
    const { vmId, epoch, startCounter: counter, seq } = h.header;
    beats.push({ at: Date.now(), vmId, epoch, counter, seq, payload });
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return {
    port: socket.address().port, keyId, keyHex: key.toString('hex'), beats, receiver,
    waitBeat: (what, pred, from = 0, timeoutMs = 30_000) => waitFor(what, () => beats.slice(from).find(pred), timeoutMs, 50)
      .catch((e: Error) => { throw new Error(`${e.message}; beats seen: ${beats.slice(from).map(describe).join(', ') || 'none'}`); }),
    close: () => socket.close(),
  };
}

/** One line per beat for an error message: VM id, counter, epoch, seq, cloned. */
export function describe(b: Beat): string {
  return `${b.vmId} #${b.counter} ${b.epoch}/${b.seq}${b.payload.cloned ? ' cloned' : ''}`;
}

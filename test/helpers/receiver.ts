// A real heartbeat receiver for tests: a UDP socket on loopback feeding the panel's library.

import * as crypto from 'crypto';
import * as dgram from 'dgram';
import * as fs from 'fs';
import * as path from 'path';
import { HeartbeatReceiver, VmView } from '../../panel/heartbeat-receiver';
import { waitFor } from './agent';

export interface TestReceiver {
  port: number;
  keyFile: string;
  receiver: HeartbeatReceiver;
  beats: Array<{ at: number; view: VmView }>;
  states: string[];
  datagrams: Buffer[];
  waitState(state: string, timeoutMs?: number): Promise<VmView>;
  close(): void;
}

export async function startReceiver(dir: string, vmId = 'vm-test'): Promise<TestReceiver> {
  const key = crypto.randomBytes(32);
  const keyFile = path.join(dir, 'heartbeat.key');
  fs.writeFileSync(keyFile, `k1 ${key.toString('hex')}\n`, { mode: 0o600 });
  const beats: TestReceiver['beats'] = [];
  const states: string[] = [];
  const datagrams: Buffer[] = [];
  const receiver = new HeartbeatReceiver((id) => (id === vmId ? [{ keyId: 'k1', key }] : undefined), {
    onChange: (v) => states.push(v.state),
  });
  const socket = dgram.createSocket('udp4');
  socket.on('message', (d) => {
    datagrams.push(d);
    const v = receiver.accept(d);
    if (v.ok) beats.push({ at: Date.now(), view: receiver.view(v.vmId)! });
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const sweep = setInterval(() => receiver.sweep(), 50);
  return {
    port: socket.address().port,
    keyFile, receiver, beats, states, datagrams,
    /** Resolves once STATE has been entered (now or earlier; clear `states` to start afresh). */
    waitState: (state, timeoutMs = 8000) => waitFor(`receiver state ${state}`,
      () => states.includes(state) && receiver.views()[0], timeoutMs).catch((e: Error) => {
      throw new Error(`${e.message} (seen: ${states.join(' > ') || 'nothing'})`);
    }),
    close() { clearInterval(sweep); socket.close(); },
  };
}

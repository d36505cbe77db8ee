// The collector CLI (dist/phoenix-ga-receiver.js) as a real process for the panel tests: a key
// file, a UDP port, the HTTP table, its stdout lines, and a sender for hand-made datagrams.

import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as dgram from 'dgram';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { cleanEnv, ROOT, waitFor } from '../helpers/agent';

export interface Collector {
  proc: ChildProcess;
  udpPort: number;
  httpPort: number;
  keyFile: string;
  /** Every stdout line so far. */
  lines: string[];
  stderr(): string;
  get(p: string): Promise<{ status: number; body: string }>;
  getJson(p: string): Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  send(d: Buffer): Promise<void>;
  states(): Promise<Record<string, string>>;
  stop(): void;
}

export function writeKeys(file: string, keys: Record<string, Buffer>): void {
  fs.writeFileSync(file, Object.entries(keys).map(([vm, k]) => `${vm} k1 ${k.toString('hex')}`).join('\n') + '\n');
}

export function writeAgentKey(file: string, key: Buffer): void {
  fs.writeFileSync(file, `k1 ${key.toString('hex')}\n`, { mode: 0o600 });
}

export function httpGet(port: number, p: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p, headers }, (res) => { let b = ''; res.on('data', (d) => { b += d; }); res.on('end', () => resolve({ status: res.statusCode!, body: b })); }).on('error', reject);
  });
}

export async function startCollector(dir: string, keys: Record<string, Buffer>, extra: string[] = []): Promise<Collector> {
  const keyFile = path.join(dir, 'collector.keys');
  writeKeys(keyFile, keys);
  const udpPort = 20000 + crypto.randomInt(20000);
  const httpPort = udpPort + 1;
  const proc = spawn(process.execPath, [path.join(ROOT, 'dist/phoenix-ga-receiver.js'), '--listen', `127.0.0.1:${udpPort}`, '--keys', keyFile, '--http', `127.0.0.1:${httpPort}`, ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
  const lines: string[] = [];
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => { out += d; let i; while ((i = out.indexOf('\n')) >= 0) { lines.push(out.slice(0, i)); out = out.slice(i + 1); } });
  proc.stderr!.on('data', (d) => { err += d; });
  const sock = dgram.createSocket('udp4');
  const get = (p: string) => httpGet(httpPort, p);
  const c: Collector = {
    proc, udpPort, httpPort, keyFile, lines,
    stderr: () => err,
    get,
    getJson: async (p) => JSON.parse((await get(p)).body),
    send: (d) => new Promise<void>((r) => sock.send(d, udpPort, '127.0.0.1', () => r())),
    states: async () => Object.fromEntries((await c.getJson('/vms')).vms.map((v: { vmId: string; state: string }) => [v.vmId, v.state])),
    stop: () => { sock.close(); proc.kill(); },
  };
  await waitFor('collector http', async () => { try { return (await get('/vms')).status === 200 && err.includes('listening'); } catch { return false; } }, 5000, 50)
    .catch((e: Error) => { throw new Error(`${e.message}: ${err}`); });
  return c;
}

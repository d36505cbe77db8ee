// phoenix-ga-receiver: listens for heartbeats and prints each VM's state when it changes
// (JSON lines with --json). Usage: phoenix-ga-receiver --listen HOST:PORT --keys FILE [--each] [--json]

import * as dgram from 'dgram';
import * as fs from 'fs';
import { startCollectorHttp } from './collector-http';
import { HeartbeatReceiver, parseKeyFile, VmState, VmView } from './heartbeat-receiver';

const USAGE = 'usage: phoenix-ga-receiver --listen HOST:PORT --keys FILE [--each] [--json] [--http HOST:PORT] [--silent-after N]\n'
  + '  key file lines: VMID [KEYID] HEXKEY [until=ISO-8601]; SIGHUP re-reads it, SIGUSR1 prints the counters\n'
  + '  --http: GET /vms (JSON) and /metrics (Prometheus) on that address (default off; use 127.0.0.1)\n';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

function describe(v: VmView, previous: VmState | null): string {
  const p = v.payload;
  if (!p) return `${new Date().toISOString()} ${v.vmId} ${previous ?? '-'} -> ${v.state} (${v.reason})`;
  const w = p.worker;
  const last = p.last_exit ? ` last-exit=${p.last_exit.reason}(${p.last_exit.signal ?? p.last_exit.code}) ${Math.round(p.last_exit.ago_ms / 1000)}s ago` : '';
  return `${new Date().toISOString()} ${v.vmId} ${previous ?? '-'} -> ${v.state} (${v.reason}) worker=${w.state} pid=${w.pid} gen=${w.gen} restarts=${p.restarts.total}${last} seq=${v.seq}`;
}

function main(): void {
  const listen = flag('listen');
  const keyFile = flag('keys');
  if (!listen || !keyFile || process.argv.includes('--help')) {
    process.stderr.write(USAGE);
    process.exit(listen && keyFile ? 0 : 2);
  }
  const m = /^(?:\[(.+)\]|([^:]+)):(\d+)$/.exec(listen);
  if (!m) { process.stderr.write(`--listen: expected HOST:PORT, got '${listen}'\n`); process.exit(2); }
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  let keys = parseKeyFile(fs.readFileSync(keyFile, 'utf8'));
  const json = process.argv.includes('--json');
  const each = process.argv.includes('--each');
  const out = (v: VmView, previous: VmState | null, event: string): void => {
    process.stdout.write((json ? JSON.stringify({ event, previous, ...v }) : describe(v, previous)) + '\n');
  };
  const silent = flag('silent-after');
  const receiver = new HeartbeatReceiver((id) => keys.get(id), { onChange: (v, prev) => out(v, prev, 'state'), ...(silent ? { silentAfterIntervals: Number(silent) } : {}) });
  process.on('SIGHUP', () => {
    try { keys = parseKeyFile(fs.readFileSync(keyFile, 'utf8')); process.stderr.write(`receiver: ${keys.size} VM key(s) loaded\n`); } catch (e) { process.stderr.write(`receiver: keys not reloaded: ${(e as Error).message}\n`); }
  });
  const http = flag('http');
  if (http) {
    const h = /^(.+):(\d+)$/.exec(http);
    if (!h) { process.stderr.write(`--http: expected HOST:PORT, got '${http}'\n`); process.exit(2); }
    startCollectorHttp(receiver, h[1], Number(h[2])).then(() => process.stderr.write(`phoenix-ga-receiver: http://${http}/vms and /metrics\n`), (e) => { process.stderr.write(`--http: ${e.message}\n`); process.exit(1); });
  }
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  socket.on('message', (d) => {
    const verdict = receiver.accept(d);
    if (each && verdict.ok) { const v = receiver.view(verdict.vmId)!; out(v, v.state, 'beat'); }
  });
  socket.on('error', (e) => { process.stderr.write(`receiver: ${e.message}\n`); process.exit(1); });
  socket.bind(port, host, () => process.stderr.write(`phoenix-ga-receiver listening on ${host}:${port}, ${keys.size} VM key(s)\n`));
  setInterval(() => receiver.sweep(), 1000).unref();
  process.on('SIGUSR1', () => process.stderr.write(JSON.stringify(receiver.counters) + '\n'));
}

main();

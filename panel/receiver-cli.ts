// phoenix-ga-receiver: listens for heartbeats and prints each VM's state when it changes (JSON
// lines with --json). Start-up errors are one line and exit 2 (usage, key file) or 1 (the address).

import * as dgram from 'dgram';
import { startCollectorHttp } from './collector-http';
import { printable, safeJson } from './guest-text';
import { HeartbeatReceiver, VmState, VmView } from './heartbeat-receiver';
import { KeyFileError, loadKeyFile } from './key-file';

const USAGE = 'usage: phoenix-ga-receiver --listen HOST:PORT --keys FILE [--each] [--json] [--http HOST:PORT] [--silent-after N]\n'
  + '  key file lines: VMID [KEYID] HEXKEY [until=ISO-8601] [# comment]; SIGHUP re-reads it, SIGUSR1 prints the counters\n'
  + '  --http: GET /vms, /vms/ID, /events (server-sent events), /sources and /metrics on that address (default off; use 127.0.0.1)\n';

class UsageError extends Error {}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new UsageError(`--${name} needs a value`);
  return v;
}

function hostPort(name: string, v: string): { host: string; port: number } {
  const m = /^(?:\[(.+)\]|([^:]+)):(\d{1,5})$/.exec(v);
  if (!m || Number(m[3]) > 65535) throw new UsageError(`--${name}: expected HOST:PORT (an IPv6 host in brackets), got '${printable(v)}'`);
  return { host: m[1] ?? m[2], port: Number(m[3]) };
}

/** One line per change; everything in it is checked or escaped (heartbeat-payload.ts, printable). */
function describe(v: VmView, previous: VmState | null): string {
  const p = v.payload;
  const head = `${new Date().toISOString()} ${v.vmId} ${previous ?? '-'} -> ${v.state} (${v.reason})`;
  if (!p) return printable(head);
  const w = p.worker;
  const last = p.last_exit ? ` last-exit=${p.last_exit.reason}(${p.last_exit.signal ?? p.last_exit.code}) ${Math.round(p.last_exit.ago_ms / 1000)}s ago` : '';
  return printable(`${head} worker=${w.state} pid=${w.pid} gen=${w.gen} restarts=${p.restarts.total}${last} seq=${v.seq}`);
}

function main(): number {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) { process.stdout.write(USAGE); return 0; }
  const listen = flag('listen');
  const keyFile = flag('keys');
  if (!listen || !keyFile) throw new UsageError(`${listen ? '--keys FILE' : '--listen HOST:PORT'} is required`);
  const { host, port } = hostPort('listen', listen);
  const silent = flag('silent-after');
  if (silent !== undefined && !(Number.isInteger(Number(silent)) && Number(silent) >= 1 && Number(silent) <= 100)) throw new UsageError(`--silent-after: expected a whole number of intervals from 1 to 100, got '${printable(silent)}'`);
  const http = flag('http');
  const httpAt = http === undefined ? null : hostPort('http', http);
  const keys = loadKeyFile(keyFile);
  const json = argv.includes('--json');
  const each = argv.includes('--each');
  const out = (v: VmView, previous: VmState | null, event: string): void => {
    process.stdout.write((json ? safeJson({ event, previous, ...v }) : describe(v, previous)) + '\n');
  };
  const receiver = new HeartbeatReceiver(keys, { onChange: (v, prev) => out(v, prev, 'state'), ...(silent ? { silentAfterIntervals: Number(silent) } : {}) });
  process.on('SIGHUP', () => {
    try {
      const next = loadKeyFile(keyFile);
      receiver.setKeys(next);
      process.stderr.write(`phoenix-ga-receiver: ${next.size} VM key(s) loaded from ${keyFile}\n`);
    } catch (e) {
      process.stderr.write(`phoenix-ga-receiver: keys not reloaded, the old ones stay: ${printable((e as Error).message)}\n`);
    }
  });
  process.on('SIGUSR1', () => process.stderr.write(JSON.stringify(receiver.counters) + '\n'));
  if (httpAt) {
    startCollectorHttp(receiver, httpAt.host, httpAt.port).then(
      () => process.stderr.write(`phoenix-ga-receiver: http://${http}/vms, /events and /metrics\n`),
      (e: Error) => fail(1, `--http ${http}: ${e.message}`));
  }
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let lastReport = 0;
  let unreported = 0;
  socket.on('message', (d, from) => {
    const verdict = receiver.accept(d, from.address);
    if (verdict.ok) { if (each) { const v = receiver.view(verdict.vmId)!; out(v, v.state, 'beat'); } return; }
    // A VM id the key file does not know, or an old agent: say who, at most one line a second.
    if (verdict.why !== 'unknown-vm' && verdict.why !== 'old-version') return;
    const now = Date.now();
    if (now - lastReport < 1000) { unreported++; return; }
    const more = unreported ? ` (${unreported} more refused since the last such line)` : '';
    lastReport = now;
    unreported = 0;
    const what = verdict.why === 'unknown-vm' ? 'a VM id not in the key file' : 'an old heartbeat version (upgrade that agent)';
    if (json) process.stdout.write(safeJson({ event: 'refused', why: verdict.why, source: from.address, vmId: verdict.vmId ?? null }) + '\n');
    else process.stdout.write(printable(`${new Date(now).toISOString()} refused from ${from.address}: ${what}, '${verdict.vmId ?? '?'}'${more}`) + '\n');
  });
  socket.on('error', (e) => fail(1, `--listen ${listen}: ${e.message}`));
  socket.bind(port, host, () => process.stderr.write(`phoenix-ga-receiver listening on ${host}:${port}, ${keys.size} VM key(s)\n`));
  setInterval(() => receiver.sweep(), 1000).unref();
  return -1;
}

function fail(code: number, message: string): never {
  process.stderr.write(`phoenix-ga-receiver: ${printable(message)}\n`);
  process.exit(code);
}

try {
  const code = main();
  if (code >= 0) process.exit(code);
} catch (e) {
  if (e instanceof UsageError) fail(2, `${e.message} (--help shows the usage)`);
  if (e instanceof KeyFileError) fail(2, `--keys: ${e.message}`);
  throw e;
}

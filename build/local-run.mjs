// `npm run local`: runs phoenix-ga on the embedded default for a laptop or a fresh machine, no VM:
// the supervisor and its worker on a unix socket in ./.local/, heartbeats (with a generated key)
// to a local receiver that prints each VM state change, and a prompt: type a qemu-ga request,
// see the reply. Ctrl-C stops everything.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, '.local');
mkdirSync(dir, { recursive: true, mode: 0o700 });
const sock = join(dir, 'agent.sock');
const keyHex = randomBytes(32).toString('hex');
writeFileSync(join(dir, 'heartbeat.key'), `k1 ${keyHex}\n`, { mode: 0o600 });
writeFileSync(join(dir, 'receiver.keys'), `local-vm k1 ${keyHex}\n`, { mode: 0o600 });
const port = 17000 + (process.pid % 1000);
const env = { ...process.env };
delete env.NODE_OPTIONS;
delete env.NODE_EXTRA_CA_CERTS;

const receiver = spawn(process.execPath, [join(root, 'dist/phoenix-ga-receiver.js'), '--listen', `127.0.0.1:${port}`, '--keys', join(dir, 'receiver.keys')],
  { stdio: ['ignore', 'pipe', 'inherit'], env });
receiver.stdout.on('data', (d) => process.stdout.write(`[receiver] ${d}`));
const agent = spawn(process.execPath, [join(root, 'dist/supervisor.js'), '--channel', `unix:${sock}`, '--run-dir', join(dir, 'run'),
  '--log-file', '-', '--heartbeat', `127.0.0.1:${port}`, '--heartbeat-key', join(dir, 'heartbeat.key'), '--vm-id', 'local-vm', '--heartbeat-interval', '5'],
  { stdio: ['ignore', 'inherit', 'pipe'], env });
agent.stderr.on('data', (d) => process.stdout.write(`[agent] ${d}`));

const stop = () => { agent.kill('SIGTERM'); receiver.kill('SIGTERM'); setTimeout(() => process.exit(0), 300); };
process.on('SIGINT', stop);
agent.on('exit', (code) => { console.log(`[agent] supervisor exited with code ${code}`); receiver.kill(); process.exit(code ?? 1); });

const wait = () => new Promise((r) => setTimeout(r, 50));
while (!existsSync(sock)) await wait();
console.log(`\nphoenix-ga is running: socket ${sock}, supervisor pid ${agent.pid}, heartbeats every 5 s to 127.0.0.1:${port}.`);
console.log('Type a request, e.g. {"execute":"guest-info"} or {"execute":"phoenix-agent-status"}; Ctrl-C stops.');
console.log(`Other terminals: node dist/supervisor.js status --run-dir ${join(dir, 'run')}   |   kill -9 the worker: pkill -9 -f phoenix-ga-worker\n`);
const c = connect(sock);
c.on('data', (d) => process.stdout.write(`<- ${d.toString('latin1').replace(/\xff/g, '\\xff')}`));
c.on('close', () => console.log('[client] connection closed (the worker died?); type again to reconnect'));
const rl = createInterface({ input: process.stdin });
let conn = c;
rl.on('line', (line) => {
  if (!line.trim()) return;
  if (conn.destroyed) {
    conn = connect(sock);
    conn.on('data', (d) => process.stdout.write(`<- ${d.toString('latin1').replace(/\xff/g, '\\xff')}`));
  }
  conn.write(line + '\n');
});
rl.on('close', () => { if (!process.stdin.isTTY) setTimeout(stop, 1500); });

// Starts the built supervisor (dist/supervisor.js) as a real process on a unix socket in a
// temporary directory, and gives the test its pid, socket, run dir and log.

import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { PersistedState } from '../../supervisor/state-store';

// Tests run bundled from .test-out/, at any depth: the project root is above it.
export const ROOT = __dirname.split(`${path.sep}.test-out`)[0];
export const SUPERVISOR = path.join(ROOT, 'dist/supervisor.js');

export interface AgentOptions {
  args?: string[];
  heartbeatPort?: number;
  keyFile?: string;
  interval?: number;
  hangTimeout?: number;
  testCommands?: boolean;
  channel?: string;
  /** Reuse this directory (a restarted supervisor continues its state). */
  dir?: string;
  /** Extra environment for the supervisor. */
  env?: NodeJS.ProcessEnv;
  /** A command to run the supervisor under, e.g. ['unshare', '--uts', '--'] or ['ip', 'netns', 'exec', 'ns1']. */
  wrap?: string[];
  /** The Node binary to run the supervisor (and so the worker) on; default this one. */
  node?: string;
  /** The supervisor bundle to run (its directory holds the worker's); default dist/supervisor.js. */
  supervisor?: string;
  vmId?: string;
}

export interface Agent {
  proc: ChildProcess;
  dir: string;
  sock: string;
  runDir: string;
  output(): string;
  state(): PersistedState | null;
  workerPid(): number | null;
  waitFor<T>(what: string, f: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs?: number): Promise<T>;
  waitReady(timeoutMs?: number): Promise<number>;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function tempDir(prefix = 'pga-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

export async function waitFor<T>(what: string, f: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs = 5000, stepMs = 10): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export function startAgent(o: AgentOptions = {}): Agent {
  const dir = o.dir ?? tempDir();
  const sock = path.join(dir, 'agent.sock');
  const runDir = path.join(dir, 'run');
  const args = [o.supervisor ?? SUPERVISOR, '--channel', o.channel ?? `unix:${sock}`, '--run-dir', runDir, '--log-file', '-',
    '--heartbeat-interval', String(o.interval ?? 0.2), '--hang-timeout', String(o.hangTimeout ?? 1.5), '--vm-id', o.vmId ?? 'vm-test'];
  if (o.heartbeatPort) args.push('--heartbeat', `127.0.0.1:${o.heartbeatPort}`, '--heartbeat-key', o.keyFile!);
  if (o.testCommands) args.push('--test-commands');
  // Never the machine's own /var/lib/phoenix-ga: each test agent journals in its own directory.
  if (!(o.args ?? []).includes('--state-dir')) args.push('--state-dir', path.join(dir, 'state'));
  // Never the machine's own clock: a test agent heals only when its test asks for it.
  if (!(o.args ?? []).includes('--clock-heal')) args.push('--clock-heal', 'off');
  // An agent on this machine's own root never rewrites its machine-id or SSH host keys in a test.
  if (!(o.args ?? []).includes('--os-root')) args.push('--regenerate-identity-on-clone', 'no');
  args.push(...(o.args ?? []));
  const node = o.node ?? process.execPath;
  const [cmd, ...pre] = o.wrap ? [...o.wrap, node] : [node];
  const proc = spawn(cmd, [...pre, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...cleanEnv(), ...o.env } });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  const state = (): PersistedState | null => {
    try { return JSON.parse(fs.readFileSync(path.join(runDir, 'state.json'), 'utf8')); } catch { return null; }
  };
  const agent: Agent = {
    proc, dir, sock, runDir,
    output: () => out,
    state,
    workerPid: () => state()?.worker.pid ?? null,
    waitFor: (what, f, t) => waitFor(what, f, t),
    async waitReady(timeoutMs = 5000) {
      // The state file must be this supervisor's, not one left by an earlier one in the same dir.
      return waitFor('worker ready', () => { const s = state(); return s && s.supervisor.pid === proc.pid && s.worker.state === 'ready' && s.worker.pid; }, timeoutMs)
        .catch((e: Error) => { throw new Error(`${e.message}; supervisor output:\n${out.slice(-2000)}`); });
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
  return agent;
}

/** Pids of live processes whose environment or title marks them as phoenix-ga workers of DIR. */
export function processesAlive(pids: number[]): number[] {
  return pids.filter((p) => {
    try {
      const st = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      return !/\) Z /.test(st);
    } catch { return false; }
  });
}

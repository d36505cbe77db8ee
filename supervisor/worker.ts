// One worker generation: spawn, IPC, stderr capture, and the facts needed to classify its death.
//
// The worker leads its own process group, so killing the group also kills anything it spawned
// (chpasswd, ip) even when the worker itself died by SIGKILL and could not clean up.

import { ChildProcess, spawn } from 'child_process';
import fs = require('fs');
import type * as net from 'net';
import { codeCacheFile, codeCacheLoaderSource, frozenRecordFile, LoaderChannel } from './code-cache';
import { classifyDeath, DeathReason } from './death';
import { memoryReducerFlags } from './memory-reducer';
import type { FromWorker, ToWorker, WorkerConfig } from './ipc';
import { cgroupIsOurs, cgroupOomKills, HeldFile, heldFile, kernelLogNamesOomKill, oomCounterFiles, systemOomKills } from './proc';
import { readLedgerFile, ReplyLedger } from './reply-ledger';

export interface WorkerSpawnOptions {
  nodePath: string;
  agentPath: string;
  heapMb: number;
  config: WorkerConfig;
  serialFd: number | null;
  /** The reply ledger's file, with the serial port (see reply-ledger.ts). */
  ledgerFd: number | null;
  now: () => number;
  /** Why the code cache is not to be read at this start (see code-cache.ts), if it is not. */
  codeCacheSetAside?: string | null;
}

export interface WorkerExit {
  reason: DeathReason;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Unix connections handed over that the worker never took: they go to the next generation. */
  unread: net.Socket[];
  /** Serial: what the worker read and did not answer (see reply-ledger.ts). */
  owed: ReplyLedger | null;
}

export interface WorkerHandlers {
  message(m: FromWorker): void;
  stderrLine(line: string): void;
  exit(e: WorkerExit): void;
}

const STDERR_TAIL = 8192;
/** The worker is more expendable than the customer's processes and than its supervisor. */
const WORKER_OOM_SCORE_ADJ = 500;

export function workerExecArgs(heapMb: number): string[] {
  // Heap caps bound growth under load; a single V8 platform thread means fewer idle wakeups.
  return [`--max-old-space-size=${heapMb}`, '--max-semi-space-size=1', '--v8-pool-size=1'];
}

/**
 * V8's own values of the worker's V8 flags, on V8 11 (Node 20): the loader sets them while it opens
 * the IPC channel (see code-cache.ts). On a V8 with other defaults, V8 refuses Node's code cache
 * there as it did before.
 */
const V8_DEFAULTS = ['--max-old-space-size=0', '--max-semi-space-size=0', '--gc-memory-reducer-start-delay-ms=8000', '--no-optimize-for-size'];
const flagName = (f: string): string => f.replace('--no-', '--').split('=')[0];

/** What the loader needs to open the worker's IPC channel on FD, for a worker started with FLAGS. */
export function loaderChannel(flags: string[], fd: number): LoaderChannel {
  const known = (a: string[], b: string[]): string => a.filter((f) => b.some((g) => flagName(f) === flagName(g))).join(' ');
  return { fd, v8Flags: known(flags, V8_DEFAULTS), v8Defaults: known(V8_DEFAULTS, flags) };
}

/** Our runtime's memory flags, for a worker on the same binary only (an update may switch it to another). */
export function workerV8Flags(nodePath: string, ownPath = process.execPath, v8Version = process.versions.v8): string[] {
  try { return fs.realpathSync(nodePath) === ownPath ? memoryReducerFlags(v8Version) : []; } catch { return []; }
}

export class Worker {
  readonly pid: number;
  readonly generation: number;
  readonly spawnedAt: number;
  readyAt: number | null = null;
  lastProgressAt: number;
  busy: string | null = null;
  /** Its memory and where its main thread sleeps, read at each tick; closed when it exits. */
  readonly statm: HeldFile;
  readonly wchan: HeldFile;
  readonly #child: ChildProcess;
  #stderrTail = '';
  #lineBuf = '';
  #hungKill = false;
  #stopRequested = false;
  /**
   * OOM-kill count of each memory cgroup file the worker was seen in, when first seen; -1 once the
   * cgroup was seen holding other programs too (its count then says nothing about the worker).
   */
  readonly #cgroupBase = new Map<string, number>();
  /** The machine's OOM-kill count before the spawn: unchanged at the death, the kernel log is not read. */
  readonly #systemOomBase: number | null;
  #exited = false;
  /** Connections handed over and not yet acknowledged by the worker, by connection id. */
  readonly #handedOver = new Map<number, net.Socket>();
  #nextCid = 0;
  readonly #ledgerFd: number | null;

  constructor(opts: WorkerSpawnOptions, private readonly on: WorkerHandlers) {
    this.generation = opts.config.generation;
    this.spawnedAt = opts.now();
    this.lastProgressAt = this.spawnedAt;
    this.#systemOomBase = systemOomKills();
    const stdio: Array<'ignore' | 'pipe' | 'ipc' | number> = ['ignore', 'ignore', 'pipe', 'ipc'];
    // The serial port (fd 4) and its reply ledger (fd 5).
    this.#ledgerFd = opts.serialFd !== null ? opts.ledgerFd : null;
    if (opts.serialFd !== null) stdio.push(opts.serialFd);
    if (this.#ledgerFd !== null) stdio.push(this.#ledgerFd);
    // Through the code-cache loader: process.argv[1] is still the bundle (see code-cache.ts).
    const flags = [...workerExecArgs(opts.heapMb), ...workerV8Flags(opts.nodePath)];
    const args = [...flags, '-e', codeCacheLoaderSource(loaderChannel(flags, stdio.indexOf('ipc'))), opts.agentPath,
      codeCacheFile(opts.config.stateDir, opts.agentPath), frozenRecordFile(opts.config.runDir), ...opts.codeCacheSetAside ? [opts.codeCacheSetAside] : []];
    this.#child = spawn(opts.nodePath, args, {
      stdio,
      detached: true,
      serialization: 'json',
      // A minimal explicit environment: no NODE_OPTIONS, no NODE_EXTRA_CA_CERTS, no LD_*.
      env: {
        // Node appends NODE_CHANNEL_FD=<fd> after these, and getenv finds this empty one first: Node
        // leaves the channel to the loader, which opens it on V8's defaults (see code-cache.ts).
        NODE_CHANNEL_FD: '',
        PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
        LANG: 'C',
        LC_ALL: 'C',
        // One malloc arena: V8's platform thread otherwise touches a 1 MiB arena of its own at its first task.
        MALLOC_ARENA_MAX: '1',
        // The mmap threshold fixed at glibc's starting value: glibc otherwise raises it to the size of
        // any mapped block freed (the code cache's, a large page of statistics), and later blocks up
        // to that size are carved from the heap, where their pages stay after they are freed.
        MALLOC_MMAP_THRESHOLD_: '131072',
        PHOENIX_GA_WORKER: JSON.stringify(opts.config),
      },
    });
    this.pid = this.#child.pid ?? -1;
    this.statm = heldFile(`/proc/${this.pid}/statm`);
    this.wchan = heldFile(`/proc/${this.pid}/wchan`);
    // The OOM baseline is taken by the service once the spawn's first beat is out (refreshOomBaseline).
    if (this.pid > 0) try { fs.writeFileSync(`/proc/${this.pid}/oom_score_adj`, String(WORKER_OOM_SCORE_ADJ)); } catch { /* not permitted */ }
    this.#child.stderr!.setEncoding('utf8');
    this.#child.stderr!.on('data', (d: string) => this.#onStderr(d));
    this.#child.on('message', (m: FromWorker) => {
      this.lastProgressAt = opts.now();
      if (m.t === 'ready' && this.readyAt === null) this.readyAt = this.lastProgressAt;
      if (m.t === 'pong') this.busy = m.busy;
      if (m.t === 'conn-ok') { this.#handedOver.get(m.cid)?.destroy(); this.#handedOver.delete(m.cid); }
      this.on.message(m);
    });
    this.#child.on('error', (e) => {
      this.#onStderr(`spawn failed: ${e.message}\n`);
      // A spawn that failed emits no 'exit': report it as a crash so the restart loop goes on.
      if (!(this.#child.pid! > 0)) this.#onExit(127, null);
    });
    this.#child.on('exit', (code, signal) => this.#onExit(code, signal));
  }

  /** Notes the worker's memory cgroup (it may have been moved) and whether it is ours alone. */
  refreshOomBaseline(): void {
    if (this.#exited) return;
    // A cgroup once seen shared stays so (-1): its procs need not be read again.
    for (const f of oomCounterFiles(this.pid)) if (this.#cgroupBase.get(f) !== -1) this.#cgroupBase.set(f, cgroupIsOurs(f, this.pid) ? this.#cgroupBase.get(f) ?? cgroupOomKills(f) : -1);
  }

  /** Evidence of an OOM kill of this worker: its own cgroup's count rose, or the kernel log names it. */
  #oomKillEvidence(signal: NodeJS.Signals | null): boolean {
    if (signal !== 'SIGKILL') return false;
    for (const [f, base] of this.#cgroupBase) if (base >= 0 && cgroupOomKills(f) > base) return true;
    // Before the restart: the whole log is read one record per call, so only after an OOM kill somewhere.
    // An unknown count (before Linux 4.13) is no proof of none.
    return (this.#systemOomBase === null || systemOomKills() !== this.#systemOomBase) && kernelLogNamesOomKill(this.pid);
  }

  send(m: ToWorker): boolean {
    if (this.#exited || !this.#child.connected) return false;
    try {
      this.#child.send(m, () => { /* a failed send shows up as the worker's exit */ });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Hands a unix connection over. Our copy stays open until the worker says it has its own, so a
   * connection caught in a dying worker's IPC pipe is not lost (Node would keep an unacknowledged
   * handle open, and the client would hang).
   */
  sendConnection(socket: net.Socket): boolean {
    if (this.#exited || !this.#child.connected) return false;
    const cid = ++this.#nextCid;
    this.#handedOver.set(cid, socket);
    try {
      this.#child.send({ t: 'conn', cid }, socket, { keepOpen: true }, () => { /* see above */ });
      return true;
    } catch {
      this.#handedOver.delete(cid);
      return false;
    }
  }

  killGroup(signal: NodeJS.Signals): void {
    // Never without a real pid: kill(-(-1)) would signal init.
    if (this.pid > 1) try { process.kill(-this.pid, signal); } catch { /* gone */ }
  }

  /** SIGKILL for a worker that stopped making progress (SIGKILL also works on a stopped process). */
  killAsHung(): void {
    this.#hungKill = true;
    this.killGroup('SIGKILL');
  }

  /** SIGTERM now, SIGKILL after the grace period. */
  stop(graceMs: number): void {
    if (this.#exited) return;
    this.#stopRequested = true;
    this.killGroup('SIGTERM');
    const t = setTimeout(() => this.killGroup('SIGKILL'), graceMs);
    this.#child.once('exit', () => clearTimeout(t));
  }

  get alive(): boolean {
    return !this.#exited;
  }

  #onStderr(d: string): void {
    this.#stderrTail = (this.#stderrTail + d).slice(-STDERR_TAIL);
    this.#lineBuf += d;
    let nl: number;
    while ((nl = this.#lineBuf.indexOf('\n')) >= 0) {
      const line = this.#lineBuf.slice(0, nl);
      this.#lineBuf = this.#lineBuf.slice(nl + 1);
      if (line.trim()) this.on.stderrLine(line);
    }
    if (this.#lineBuf.length > 4096) { this.on.stderrLine(this.#lineBuf); this.#lineBuf = ''; }
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#exited) return;
    this.#exited = true;
    this.statm.close();
    this.wchan.close();
    // Also reap anything the worker left behind in its process group.
    this.killGroup('SIGKILL');
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      const reason = classifyDeath({
        code,
        signal,
        killedAsHung: this.#hungKill,
        stopRequested: this.#stopRequested,
        stderrTail: this.#stderrTail,
        // Read once stderr and IPC have drained, not at the exit event itself.
        oomKillEvidence: this.#oomKillEvidence(signal),
      });
      // The worker acknowledges a connection before it reads from it, so one it never
      // acknowledged is unread and can go to the next generation instead of being dropped.
      const unread = [...this.#handedOver.values()];
      this.#handedOver.clear();
      let owed: ReplyLedger | null = null;
      try { owed = this.#ledgerFd !== null ? readLedgerFile(this.#ledgerFd) : null; } catch { /* nothing known */ }
      this.on.exit({ reason, code, signal, unread, owed });
    };
    // Wait (bounded) for stderr to drain (V8's heap-limit message) and for the IPC channel to
    // deliver what the worker sent before it died (connection acknowledgements).
    const pending = [this.#child.stderr && !this.#child.stderr.readableEnded ? 'stderr' : '', this.#child.connected ? 'ipc' : ''].filter(Boolean);
    const done = (what: string): void => {
      const i = pending.indexOf(what);
      if (i >= 0) pending.splice(i, 1);
      if (pending.length === 0) finish();
    };
    const timer = setTimeout(finish, 200);
    if (pending.length === 0) finish();
    this.#child.stderr?.once('end', () => done('stderr'));
    this.#child.once('disconnect', () => done('ipc'));
  }
}

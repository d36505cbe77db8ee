// The running service: keeps one worker generation alive over the channel it holds, watches its
// progress, classifies its deaths, restarts it, and sends the heartbeat at a fixed rate whatever
// the worker does. It never exits because of worker trouble.

import type * as net from 'net';
import type { Channel, ChannelState } from './channel';
import type { HeartbeatSender } from './heartbeat';
import type { HeartbeatPayload, WorkerState } from './heartbeat-packet';
import type { ClockBeat, ClockReport, FromWorker, JournalState } from './ipc';
import { Logger, workerLine } from './log';
import { bootId, heldFile, processStartTime, rtcOffset, sleepsInEpoll, statmMemory } from './proc';
import { decideRestart, DEFAULT_RESTART_POLICY, isFailure, RestartState } from './restart-policy';
import { loadSettings, Settings } from './settings';
import { openLedgerFile } from './reply-ledger';
import { DeathRecord, PersistedState, StateStore } from './state-store';
import type { FreezeGuard } from './thaw';
import type { UpdateWatch } from './update/watch';
import { Worker, WorkerExit } from './worker';

export interface ServiceDeps {
  settings: Settings;
  log: Logger;
  channel: Channel;
  heartbeat: HeartbeatSender;
  store: StateStore;
  freeze: FreezeGuard;
  version: string;
  nodePath: string;
  agentPath: string;
  now: () => number;
  /** An update being proven or last ended, when LIB/update exists. */
  update: UpdateWatch | null;
  /** The worker switched `current` to a new version: stop, and exit for the init to start it. */
  handover(): void;
}

const MAX_PENDING_CONNECTIONS = 16;
const FAILURE_WINDOW_MS = 10 * 60_000;
const MAX_DEATHS_KEPT = 20;
/** What a reload changes; the worker takes the last eight live too (docs/configuration.md). */
const LIVE_KEYS = 'heartbeat heartbeatIntervalMs vmId allowRpcs blockRpcs statsIntervalMs statsHistory clockHeal clockHealMaxStepMs updates updateMaxBytes'.split(' ') as Array<keyof Settings>;

export class Service {
  #worker: Worker | null = null;
  #state: WorkerState = 'starting';
  #generation = 0;
  #restart: RestartState = { failures: 0, lastSpawnAt: null };
  #restartsTotal = 0;
  #deaths: DeathRecord[] = [];
  #pending: net.Socket[] = [];
  #backoffTimer: NodeJS.Timeout | null = null;
  #backoffUntil: number | null = null;
  #tickTimer: NodeJS.Timeout | null = null;
  #pingSeq = 0;
  #ticks = 0;
  /** Workers killed in a row before they were ready: each next one is given twice the time (a starved VM). */
  #slowStarts = 0;
  #rtcOffset: number | null = null;
  #hostConnected: boolean | null = null;
  /** Replies owed by a dead generation that the port did not take at once: the next one writes them first. */
  #owedReplies = '';
  #ledgerFd: number | null = null;
  /** What the worker last said about its journal: null while it is usable. */
  #journal: { state: JournalState; reason: string | null } | null = null;
  /** What the worker last said about clock healing (its report and the heartbeat's form); kept across its restarts. */
  #clock: { report: ClockReport; beat: ClockBeat } | null = null;
  /** Why the next worker starts without its code cache: the last one died as a damaged cache makes it die. */
  #cacheSetAside: string | null = null;
  /** A worker found this machine to be a clone or a new instance during this supervisor's run. */
  #cloned = false;
  #stopping: Promise<void> | null = null;
  #resolveStopped: (() => void) | null = null;
  readonly #startedAt: number;
  readonly #boot = bootId();
  readonly #statm = heldFile('/proc/self/statm');
  readonly #rtc = heldFile('/sys/class/rtc/rtc0/since_epoch');

  constructor(private readonly d: ServiceDeps) {
    this.#startedAt = d.now();
  }

  /** Continues the bookkeeping of an earlier supervisor of this boot, then starts the first worker. */
  start(previous: PersistedState | null): void {
    let delay = 0;
    if (previous && previous.boot === this.#boot) {
      this.#generation = previous.worker.generation;
      this.#restartsTotal = previous.restarts_total;
      this.#deaths = previous.deaths.slice(-MAX_DEATHS_KEPT);
      this.#restart = { failures: previous.restart.failures, lastSpawnAt: previous.restart.last_spawn_mono };
      this.#killLeftoverWorker(previous);
      const last = this.#deaths[this.#deaths.length - 1];
      if (last && this.#restart.failures > 1) {
        const decision = decideRestart({ ...this.#restart, failures: this.#restart.failures - 1 }, {
          reason: last.reason, at: last.at_mono, spawnedAt: last.at_mono - last.lifetime_ms,
        }, DEFAULT_RESTART_POLICY);
        delay = Math.max(0, last.at_mono + decision.delayMs - this.d.now());
      }
    }
    this.#beatEvery();
    // The worker's start-up (a second Node start) is the longest wait: begin it first. The first
    // beat follows at once, so the panel learns of a (re)started supervisor without delay.
    this.#scheduleSpawn(delay);
    this.d.heartbeat.send(this.#heartbeatPayload(this.d.now()));
  }

  /** A unix connection accepted by the channel. */
  onConnection(socket: net.Socket): void {
    if (this.#stopping) { socket.destroy(); return; }
    if (this.#worker && this.#state !== 'starting' && this.#state !== 'hung' && this.#worker.sendConnection(socket)) return;
    this.#queueConnection(socket, false);
  }

  /** Connections wait here (unread) while no worker is ready, up to a bound. */
  #queueConnection(socket: net.Socket, first: boolean): void {
    if (this.#pending.length >= MAX_PENDING_CONNECTIONS) { socket.destroy(); return; }
    if (first) this.#pending.unshift(socket); else this.#pending.push(socket);
    socket.once('close', () => { this.#pending = this.#pending.filter((s) => s !== socket); });
  }

  /** The serial port opened late: a new generation is needed to inherit it. */
  onChannelOpened(): void {
    if (this.#worker?.alive) {
      this.d.log.log('info', 'supervisor', 'channel opened; handing it to a new worker generation');
      this.#worker.stop(this.d.settings.stopGraceMs);
    }
  }

  /** SIGTERM: stop the worker (grace period, then SIGKILL) and resolve when it is gone. */
  stop(): Promise<void> {
    if (this.#stopping) return this.#stopping;
    this.#stopping = new Promise((resolve) => { this.#resolveStopped = resolve; });
    if (this.#tickTimer) clearInterval(this.#tickTimer);
    if (this.#backoffTimer) clearTimeout(this.#backoffTimer);
    for (const s of this.#pending) s.destroy();
    this.#pending = [];
    const w = this.#worker;
    this.#setState('stopped');
    if (w?.alive) w.stop(this.d.settings.stopGraceMs);
    else this.#finishStop();
    return this.#stopping;
  }

  /**
   * Re-reads the config file under the same flags (SIGHUP, phoenix-set-config) and applies the keys
   * that change live: the heartbeat's at once (same epoch and sequence), the worker's through the
   * view it is sent (with `error`: why a file was not taken, which then changes nothing). The
   * others wait for a restart. RID answers the worker's 'reload'; none for a SIGHUP.
   */
  reload(rid?: number): void {
    const s = this.d.settings;
    let error;
    try {
      const n = loadSettings(new Map(s.flags));
      for (const k of LIVE_KEYS) (s as unknown as Record<string, unknown>)[k] = n[k];
      this.d.heartbeat.reload();
      if (!this.#stopping) {
        this.#beatEvery();
        this.#tick();
      }
    } catch (e) {
      error = (e as Error).message;
      this.d.log.log('warn', 'supervisor', `config not reloaded: ${error}`);
    }
    this.#worker?.send({ t: 'status', rid, view: { error, ...this.view() } });
  }

  /** The heartbeat and the watchdog tick every heartbeat-interval from now on (at start, after a reload). */
  #beatEvery(): void {
    clearInterval(this.#tickTimer!);
    this.#tickTimer = setInterval(() => this.#tick(), this.d.settings.heartbeatIntervalMs);
  }

  /**
   * The supervisor's view for `phoenix-agent-status`: what a heartbeat says (docs/heartbeat.md),
   * plus the epoch, the last deaths and where the heartbeats go.
   */
  view(): Record<string, unknown> {
    const now = this.d.now();
    const hb = this.d.settings.heartbeat;
    return {
      ...this.#heartbeatPayload(now),
      epoch: this.d.heartbeat.epoch,
      consecutive_failures: this.#restart.failures,
      deaths: this.#deaths.map((x) => ({ ...x, ago_ms: now - x.at_mono })),
      heartbeat: { enabled: this.d.heartbeat.enabled, target: hb ? `${hb.host}:${hb.port}` : null, vm_id: this.d.settings.vmId },
      journal_reason: this.#journal?.reason,
      clock: this.#clock?.report,
      update: this.d.update?.detail(),
      settings: this.d.settings,
    };
  }

  #channelState(): string {
    const s: ChannelState = this.d.channel.state();
    if (s === 'open' && this.#hostConnected !== null) return this.#hostConnected ? 'host-connected' : 'host-disconnected';
    return s;
  }

  #recentFailures(now: number): number {
    return this.#deaths.filter((x) => isFailure(x.reason) && now - x.at_mono < FAILURE_WINDOW_MS).length;
  }

  #scheduleSpawn(delayMs: number): void {
    if (this.#stopping) return;
    if (delayMs <= 0) { this.#spawn(); return; }
    this.#setState('backoff');
    this.#backoffUntil = this.d.now() + delayMs;
    this.#backoffTimer = setTimeout(() => { this.#backoffTimer = null; this.#spawn(); }, delayMs);
  }

  #spawn(): void {
    this.#backoffUntil = null;
    this.#generation += 1;
    const { settings } = this.d;
    const serialFd = this.d.channel.serialFd();
    if (serialFd !== null && this.#ledgerFd === null) {
      try { this.#ledgerFd = openLedgerFile(settings.runDir); } catch (e) { this.d.log.log('warn', 'supervisor', `reply ledger: ${(e as Error).message}`); }
    }
    const w = new Worker({
      nodePath: this.d.nodePath,
      agentPath: this.d.agentPath,
      heapMb: settings.workerHeapMb,
      serialFd,
      ledgerFd: this.#ledgerFd,
      now: this.d.now,
      codeCacheSetAside: this.#cacheSetAside,
      config: {
        generation: this.#generation,
        channel: { kind: this.d.channel.kind === 'serial' && serialFd === null ? 'none' : this.d.channel.kind, path: this.d.channel.path },
        maxRequestBytes: settings.maxRequestBytes,
        allowRpcs: settings.allowRpcs,
        blockRpcs: settings.blockRpcs,
        testCommands: settings.testCommands,
        version: this.d.version,
        runDir: settings.runDir,
        statsIntervalMs: settings.statsIntervalMs,
        statsHistory: settings.statsHistory,
        stateDir: settings.stateDir,
        freezeTimeoutMs: settings.freezeTimeoutMs,
        osRoot: settings.osRoot,
        interfacesOrder: settings.interfacesOrder,
        clockHeal: settings.clockHeal,
        clockHealMaxStepMs: settings.clockHealMaxStepMs,
        regenerateIdentity: settings.regenerateIdentity,
        testCrashAt: settings.testCrashAt,
        ...(this.#owedReplies ? { owedReplies: this.#owedReplies } : {}),
        ...(serialFd !== null && this.#ledgerFd !== null ? { replyLedger: true } : {}),
      },
    }, {
      message: (m) => this.#onWorkerMessage(w, m),
      stderrLine: (line) => { const [level, text] = workerLine(line); this.d.log.log(level, `worker[${w.pid}]`, text); },
      exit: (e) => this.#onWorkerExit(w, e),
    });
    this.#owedReplies = '';
    this.#cacheSetAside = null;
    this.#worker = w;
    this.#restart = { ...this.#restart, lastSpawnAt: w.spawnedAt };
    this.#state = 'starting';
    // The OOM baseline and the state file (its epoch loads crypto: ~14 ms on Node 16) once what
    // waits on the spawn is done, the first beat at start; the worker is still starting Node then.
    setImmediate(() => {
      if (this.#worker !== w) return;
      w.refreshOomBaseline();
      if (this.#state === 'starting') this.#setState('starting');
    });
  }

  #onWorkerMessage(w: Worker, m: FromWorker): void {
    if (w !== this.#worker) return;
    switch (m.t) {
      case 'ready':
        this.#slowStarts = 0;
        // Waiting clients first, bookkeeping after.
        for (const s of this.#pending.splice(0)) if (!w.sendConnection(s)) s.destroy();
        this.#setState('ready');
        break;
      case 'pong':
        if (this.#state === 'ready' || this.#state === 'busy') this.#state = m.busy ? 'busy' : 'ready';
        break;
      case 'status?':
        w.send({ t: 'status', rid: m.rid, view: this.view() });
        break;
      case 'host':
        this.#hostConnected = m.connected;
        break;
      case 'frozen':
        this.d.freeze.frozen(m.mounts, m.deadlineMs);
        break;
      case 'freeze?':
        w.send({ t: 'freeze-ack', rid: m.rid, error: this.d.freeze.frozen(m.mounts, m.deadlineMs) });
        break;
      case 'journal':
        this.#journal = m.state ? m as { state: JournalState; reason: string | null } : null;
        break;
      case 'reload':
        this.reload(m.rid);
        break;
      case 'clock':
        this.#clock = m;
        break;
      case 'handover':
        this.d.handover();
        break;
      case 'identity':
        // The beats so far spoke for the template's machine: the clone's start a new epoch (the
        // worker's log line says what changed).
        if (m.changed.length && !this.#cloned) {
          this.#cloned = true;
          this.d.heartbeat.renew();
          this.#tick();
        }
        break;
    }
  }

  #onWorkerExit(w: Worker, e: WorkerExit): void {
    if (w !== this.#worker) return;
    const now = this.d.now();
    this.#worker = null;
    this.#hostConnected = null;
    // Frozen file systems must not outlive the worker that froze them.
    this.d.freeze.thawNow(`worker ${w.pid} died while they were frozen`);
    this.#answerOwed(w, e);
    if (this.#stopping) { for (const s of e.unread) s.destroy(); this.#finishStop(); return; }
    for (const s of e.unread.reverse()) this.#queueConnection(s, true);
    const lifetime = now - w.spawnedAt;
    this.#restartsTotal += 1;
    this.#deaths = [...this.#deaths, { reason: e.reason, code: e.code, signal: e.signal, at_mono: now, at: new Date().toISOString(), lifetime_ms: lifetime, generation: w.generation }].slice(-MAX_DEATHS_KEPT);
    const decision = decideRestart(this.#restart, { reason: e.reason, at: now, spawnedAt: w.spawnedAt }, DEFAULT_RESTART_POLICY);
    this.#restart = decision.state;
    const how = e.signal ? `signal ${e.signal}` : `exit code ${e.code}`;
    // A fault signal, or a crash before ready: what a code cache damaged on disk causes (code-cache.ts).
    if (e.reason === 'signal' && /^SIG(SEGV|BUS|ILL|TRAP|FPE|SYS|ABRT)$/.test(e.signal!) || e.reason === 'crash' && w.readyAt === null) this.#cacheSetAside = `set aside after worker ${w.pid} died of ${how}`;
    this.d.log.log(e.reason === 'clean' ? 'info' : 'warn', 'supervisor',
      `worker ${w.pid} (generation ${w.generation}) died: ${e.reason} (${how}) after ${lifetime} ms; restarting in ${decision.delayMs} ms`);
    this.#scheduleSpawn(decision.delayMs);
    this.#save();
  }

  /** Every request the dead worker read and did not answer gets its one reply now, in order. */
  #answerOwed(w: Worker, e: WorkerExit): void {
    const unsure = e.owed?.ambiguous;
    if (unsure && !this.#stopping) {
      // It died between reading the port and recording what it read, or while writing replies:
      // a request may have no reply, or a reply come twice. A host that matches replies by order
      // would wait forever or read each reply as the next request's; it must see the agent go.
      this.d.log.log('warn', 'supervisor', `worker ${w.pid} died ${unsure} the port: reopening it, the host resyncs`);
      this.d.channel.reopen();
    }
    if (!e.owed?.size) return;
    const n = e.owed.size;
    const text = e.owed.takeReplies(this.#stopping ? 'was stopped: the agent is shutting down' : `${deathWords(e)} and was restarted`);
    const rest = this.d.channel.writeNow(this.#owedReplies + text);
    this.#owedReplies = rest;
    this.d.log.log('warn', 'supervisor', `worker ${w.pid} left ${n} request(s) unanswered; answered them${rest ? ` (${rest.length} bytes wait for the host to read)` : ''}`);
  }

  #tick(): void {
    const now = this.d.now();
    const w = this.#worker;
    if (w?.alive && this.#state !== 'hung') {
      const starting = w.readyAt === null;
      const since = starting ? w.spawnedAt : w.lastProgressAt;
      if (now - since > this.d.settings.hangTimeoutMs * (starting ? 2 ** Math.min(this.#slowStarts, 4) : 1)) {
        if (starting) this.#slowStarts++;
        this.d.log.log('warn', 'supervisor', `worker ${w.pid} made no progress for ${now - since} ms${starting ? ' since it started' : ''}; killing it as hung`);
        this.#setState('hung');
        w.killAsHung();
      } else if (w.readyAt !== null && sleepsInEpoll(w.wchan.read()) && !this.#clockJumped()) {
        // Asleep in epoll_wait: its event loop is idle, not blocked, and it need not wake to say so.
        w.lastProgressAt = now;
      } else {
        w.send({ t: 'ping', seq: ++this.#pingSeq });
      }
      // Where the worker's memory cgroup is, and its OOM count: once a minute at the default interval.
      if (++this.#ticks % 6 === 1) w.refreshOomBaseline();
    }
    this.d.heartbeat.send(this.#heartbeatPayload(now));
  }

  /**
   * Wall clock minus RTC moved by over 2 s since the last tick (a paused or restored VM): the
   * worker's clock healer, which looks at each ping, must be pinged even when idle.
   */
  #clockJumped(): boolean {
    const was = this.#rtcOffset;
    this.#rtcOffset = this.d.settings.clockHeal ? rtcOffset(this.#rtc.read()) : null;
    return was !== null && this.#rtcOffset !== null && Math.abs(this.#rtcOffset - was) > 2;
  }

  #heartbeatPayload(now: number): HeartbeatPayload {
    const w = this.#worker;
    const sup = statmMemory(this.#statm.read());
    const wm = w?.alive ? statmMemory(w.statm.read()) : null;
    const last = this.#deaths[this.#deaths.length - 1];
    return {
      boot: this.#boot,
      interval_ms: this.d.settings.heartbeatIntervalMs,
      sup: { pid: process.pid, up_ms: now - this.#startedAt, start_ms: this.#startedAt, ver: this.d.version, rss_kb: sup?.rssKb ?? 0, anon_kb: sup?.anonKb ?? 0 },
      worker: {
        state: this.#state,
        pid: w?.alive ? w.pid : null,
        gen: this.#generation,
        progress_age_ms: w?.alive && w.readyAt !== null ? now - w.lastProgressAt : null,
        rss_kb: wm?.rssKb ?? null,
        anon_kb: wm?.anonKb ?? null,
        ...(this.#backoffUntil !== null ? { backoff_ms: Math.max(0, this.#backoffUntil - now) } : {}),
      },
      restarts: { total: this.#restartsTotal, failures_10m: this.#recentFailures(now) },
      last_exit: last ? { reason: last.reason, code: last.code, signal: last.signal, ago_ms: now - last.at_mono } : null,
      channel: { kind: this.d.channel.kind, state: this.#channelState() },
      journal: this.#journal?.state,
      clock: this.#clock?.beat,
      update: this.d.update?.beat(),
      // Absent (undefined is not sent) unless this run found a clone.
      cloned: (this.#cloned || undefined) as true | undefined,
    };
  }

  #setState(s: WorkerState): void {
    this.#state = s;
    this.d.update?.workerState(s, this.#deaths[this.#deaths.length - 1]);
    this.#save();
  }

  #save(): void {
    const w = this.#worker;
    this.d.store.save({
      format: 1,
      boot: this.#boot,
      supervisor: { pid: process.pid, version: this.d.version, epoch: this.d.heartbeat.epoch, started_mono: this.#startedAt },
      worker: {
        state: this.#state,
        pid: w?.alive ? w.pid : null,
        start_time: w?.alive ? processStartTime(w.pid) : null,
        generation: this.#generation,
      },
      restart: { failures: this.#restart.failures, last_spawn_mono: this.#restart.lastSpawnAt },
      restarts_total: this.#restartsTotal,
      deaths: this.#deaths,
      channel: { kind: this.d.channel.kind, path: this.d.channel.path, state: this.#channelState() },
      heartbeat: { enabled: this.d.heartbeat.enabled, interval_ms: this.d.settings.heartbeatIntervalMs },
      updated_mono: this.d.now(),
      updated_at: new Date().toISOString(),
    });
  }

  /** A worker of a supervisor that died by SIGKILL may still run (stopped, or not yet noticed). */
  #killLeftoverWorker(previous: PersistedState): void {
    const { pid, start_time } = previous.worker;
    if (!pid || pid === process.pid || start_time === null) return;
    if (processStartTime(pid) !== start_time) return;
    this.d.log.log('warn', 'supervisor', `killing worker ${pid} left by the previous supervisor ${previous.supervisor.pid}`);
    try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
  }

  #finishStop(): void {
    this.#save();
    this.d.heartbeat.send({ ...this.#heartbeatPayload(this.d.now()), stopping: true });
    this.#resolveStopped?.();
  }
}

/** How a worker ended, for the replies it owed. */
function deathWords(e: WorkerExit): string {
  switch (e.reason) {
    case 'crash': return `crashed (exit code ${e.code})`;
    case 'signal': return `was killed by ${e.signal}`;
    case 'heap-oom': return 'ran out of heap memory';
    case 'kernel-oom': return "was killed by the kernel's OOM killer";
    case 'hung': return 'was killed for making no progress (hung)';
    case 'clean': return 'exited';
  }
}

// Composition root of the worker bundle (dist/agent.js): config from the supervisor, the command
// table, the dispatcher, and the channel it serves.

import net = require('net');
import type { WorkerConfig } from '../supervisor/ipc';
import { WORKER_EXIT } from '../supervisor/ipc';
import { LEDGER_FD } from '../supervisor/reply-ledger';
import path = require('path');
import tty = require('tty');
import { createExec } from './actions/exec';
import { createFileHandles } from './actions/file-handles';
import { createFreezer } from './actions/filesystems';
import { networkTransactions } from './actions/network-transaction';
import { createConnectionServer } from './channel/unix';
import { openSerialPort } from './channel/serial-port';
import { armPortSignal } from './channel/port-signal';
import { commandTable } from './commands/table';
import { crashPoint } from './commands/test-hooks';
import { createDispatcher, Dispatcher } from './dispatcher';
import { Link, Session } from './session';
import { createExactlyOnce } from './journal/exactly-once';
import { Journal, openJournal } from './journal/journal';
import { bootClock } from './net/deadline';
import { openTransactionStore } from './net/transaction-store';
import { checkIdentity, Identity } from './identity/identity';
import { createHost } from './os/host';
import { createSystem } from './os/system';
import { startStats } from './stats/service';
import { connectSupervisor } from './supervisor-link';
import { collectAfterStart, createIdleCollector } from './idle-gc';
import { v8FullGc } from '../supervisor/memory-reducer';
import { LedgerWriter, openLedgerWriter } from './reply-ledger';
import { liveSettingsApplier } from './live-settings';
import { createClockHealer, HealSettings } from './clock/healer';

const SERIAL_FD = 4;
/** qemu-ga's nesting limit. */
const MAX_DEPTH = 1024;
/**
 * A full collection once this many requests were served and the channel has been quiet 2 s, and
 * again at 6 s: past V8's 5 s allocation-rate window, so that it also shrinks the young generation.
 */
const IDLE_GC_AFTER = 1000;
const IDLE_GC_QUIET_MS = [2000, 6000];
/** A request this large is collected after as a burst is: its copies are tens of MB off the heap. */
const IDLE_GC_BIG_REQUEST = 1 << 20;
/** How long after ready the identity check and the journal wait (for the first requests of a host). */
const STATEFUL_AFTER_READY_MS = 50;

function readConfig(): WorkerConfig {
  try {
    return JSON.parse(process.env.PHOENIX_GA_WORKER ?? '') as WorkerConfig;
  } catch {
    process.stderr.write('error: PHOENIX_GA_WORKER is missing or not JSON; the worker is started by the supervisor\n');
    process.exit(WORKER_EXIT.badConfig);
  }
}


function log(level: string, msg: string): void {
  process.stderr.write(`${level}: ${msg}\n`);
}

function main(): void {
  const config = readConfig();
  process.title = 'phoenix-ga-worker';
  process.umask(0o077);
  // Orphaned (the supervisor died, even by SIGKILL): take our process group, children included.
  const supervisor = connectSupervisor(() => { try { process.kill(-process.pid, 'SIGKILL'); } catch { /* not a group leader */ } });
  const commands = commandTable({ testCommands: config.testCommands });
  const host = createHost('/');
  const stats = startStats({
    host, runDir: config.runDir, intervalMs: config.statsIntervalMs, capacity: config.statsHistory,
    now: () => Number(process.hrtime.bigint() / 1_000_000n),
    onError: (e) => log('warn', `statistics: ${e.message}`),
  });
  const sys = createSystem(config.osRoot);
  const freezer = createFreezer({ sys, host, timeoutMs: config.freezeTimeoutMs, onChange: (mounts, deadline) => supervisor.frozen(mounts, deadline) });
  // The identity check and the journal (about 1.3 ms of a restart's 55 here) come after ready, or
  // at the first command that needs them (a keyed one, phoenix-agent-status) if it comes first.
  let stateful: { identity: Identity; journal: Journal } | null = null;
  const openStateful = (): { identity: Identity; journal: Journal } => {
    if (stateful) return stateful;
    // Before the journal opens: a clone forgets the template's records first.
    const identity = checkIdentity({
      live: host, sys, stateDir: config.stateDir, regenerate: config.regenerateIdentity, log,
      onMachineIdChanged: () => { if (sys.root === '/') supervisor.reload().catch(() => { /* the next start reads it */ }); },
    });
    supervisor.identity(identity.changed);
    const journal = openJournal({
      dir: path.join(config.stateDir, 'journal'), maxEntries: 1000, bootId: (host.read('/proc/sys/kernel/random/boot_id') ?? '').trim(),
      completesByReboot: (name) => commands.some((c) => c.name === name && c.completesByReboot === true),
      // Read-only or full: served anyway; the supervisor tells the panel why keyed commands are refused.
      onProblem: (p) => { supervisor.journal(p?.state ?? null, p?.reason ?? null); if (p) log('warn', `journal: ${p.reason}; commands with an idempotency key are refused until it can be written`); },
    });
    for (const e of journal.recovered) log('warn', `journal: ${e.cmd} (key ${e.key}) was in flight when the previous worker died: now ${e.step}`);
    stateful = { identity, journal };
    // ssh-keygen takes seconds: in the background, so the watchdog's pings are answered meanwhile.
    identity.finish().catch((e: Error) => log('error', `identity: ${e.message}`));
    return stateful;
  };
  const crashAt = crashPoint(config.testCrashAt, config.stateDir);
  const mutations = createExactlyOnce(() => openStateful().journal, crashAt);
  // A revert at its deadline runs in turn with the mutating commands.
  const network = networkTransactions({
    sys, store: openTransactionStore(config.stateDir, (m) => log('warn', m)), clock: bootClock((p) => host.read(p)), log, frozen: () => freezer.status() === 'frozen',
    serial: (f) => mutations.run({ cmd: 'network-revert', key: undefined, publicArgs: {}, run: f }) as ReturnType<typeof f>,
  });
  const dispatcher = createDispatcher(commands, { config, supervisor, host, sys, stats, freezer, exec: createExec(sys, host), files: createFileHandles({ sys, stateDir: config.stateDir }), network, journal: () => openStateful().journal.ready(), identity: () => openStateful().identity.status() },
    { allow: config.allowRpcs, block: config.blockRpcs }, mutations,
    (name, e) => log('error', `command ${name} failed: ${e instanceof Error ? `${e.name}: ${e.message}` : 'non-Error thrown'}`));
  const limits = { maxBytes: config.maxRequestBytes, maxDepth: MAX_DEPTH };
  let inFlight = 0;
  const onBusy = (b: boolean): void => {
    inFlight += b ? 1 : -1;
    supervisor.setBusy(inFlight > 0 ? 'command' : null);
  };
  // The v8 and vm modules it needs are loaded at the first collection, not before the first reply.
  let fullGc: (() => void) | null = null;
  const idleGc = createIdleCollector(IDLE_GC_AFTER, IDLE_GC_QUIET_MS, () => (fullGc ??= v8FullGc())());
  collectAfterStart(process.versions.v8, () => (fullGc ??= v8FullGc())());
  const counted: Dispatcher = {
    parse: (text) => { if (text.length >= IDLE_GC_BIG_REQUEST) idleGc.request(IDLE_GC_AFTER); return dispatcher.parse(text); },
    run: (p, progress) => { idleGc.request(); return dispatcher.run(p, progress); },
    lexicalError: (desc) => dispatcher.lexicalError(desc),
    setPolicy: (p) => dispatcher.setPolicy(p),
  };
  const heal: HealSettings = { clockHeal: config.clockHeal, clockHealMaxStepMs: config.clockHealMaxStepMs };
  const clock = createClockHealer({
    host, sys, runDir: config.runDir, settings: () => heal,
    clocks: { wallMs: () => Date.now(), monoMs: () => Number(process.hrtime.bigint() / 1_000_000n) },
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    report: (r) => supervisor.clock(r), log: (level, msg) => log(level, msg),
  });
  // Checked at each watchdog ping (an idle worker is pinged when the supervisor saw wall - RTC move):
  // one sysfs read, no timer of its own.
  supervisor.onPing(() => { void clock.check(); });
  // A reload (phoenix-set-config, SIGHUP) changes the lists, statistics and clock settings here, live.
  const applyLive = liveSettingsApplier(config, { setPolicy: dispatcher.setPolicy, stats, onError: (e) => log('warn', `statistics settings: ${e.message}`) });
  // A changed clock setting is checked and reported at once, not at a ping an idle worker may never get.
  supervisor.onSettings((s) => { applyLive(s); heal.clockHeal = s.clockHeal; heal.clockHealMaxStepMs = s.clockHealMaxStepMs; void clock.check(); });
  const attach = (link: Link, ledger?: LedgerWriter): Session => new Session(link, counted, { limits, onBusy, ledger, crashAt });

  if (config.channel.kind === 'unix') {
    const serve = createConnectionServer(attach);
    supervisor.onConnection((handle) => serve(handle as net.Socket));
  } else if (config.channel.kind === 'serial') {
    let session: Session | null = null;
    const ledger = config.replyLedger ? openLedgerWriter(LEDGER_FD, (e) => log('warn', `reply ledger: ${e.message}`)) : undefined;
    const port = openSerialPort(SERIAL_FD, {
      data: (chunk, announced) => session!.feed(chunk, announced),
      reading: ledger?.reading,
      drained: ledger && (() => ledger.owe([])),
      host: (connected) => {
        if (!connected) session!.resetFraming();
        supervisor.hostConnected(connected);
      },
    // A terminal (an ISA port, a pty) signals data only, not a host coming: it keeps the short polls.
    }, tty.isatty(SERIAL_FD) ? undefined : (signalled, done) => armPortSignal(SERIAL_FD, signalled, (err) => {
      if (err) log('info', `serial port: no SIGIO (${err}); looking for a host every 2 s at most`);
      done(err);
    }));
    // The previous generation's owed replies go out before anything new is read.
    if (config.owedReplies) port.link.write(config.owedReplies);
    session = attach(port.link, ledger);
    port.start();
  }
  process.on('SIGTERM', () => process.exit(0));
  // No inspector on SIGUSR1 (see supervisor/main.ts), and no death by a stray SIGHUP or SIGUSR2.
  for (const sig of ['SIGUSR1', 'SIGUSR2', 'SIGHUP'] as const) process.on(sig, () => log('info', `${sig} ignored`));
  process.on('uncaughtException', (e) => {
    // Crash-only: log the class and message, never request data, and let the supervisor restart us.
    log('error', `uncaught ${e.name}: ${e.message}`);
    process.exit(70);
  });
  supervisor.ready();
  void clock.check();
  // After ready: a revert due at start must not delay serving.
  network.start().catch((e: Error) => log('error', `network transactions: ${e.message}`));
  // Past the first requests of a host that connected while we started.
  setTimeout(openStateful, STATEFUL_AFTER_READY_MS);
}

main();

// Composition root of the supervisor bundle (dist/supervisor.js, process title "phoenix-ga").

import fs = require('fs');
import path = require('path');
import { ensurePrivateDir } from './atomic-file';
import { Channel, openSerialChannel, openUnixChannel } from './channel';
import { EXIT, ParsedArgs, parseArgs, UsageError } from './cli';
import { createHeartbeatSender } from './heartbeat';
import { acquireLock } from './lock';
import { createLogger } from './log';
import { Service } from './service';
import { loadSettings, Settings, SettingsError } from './settings';
import { createStateStore, monotonicMs, stateFile } from './state-store';
import { createFreezeGuard } from './thaw';
import { startMemoryReducerEarly } from './memory-reducer';
import { readJsonFile } from './atomic-file';
import type { PersistedState } from './state-store';

declare const __VERSION__: string;
const VERSION = typeof __VERSION__ === 'string' ? __VERSION__ : '0.0.0-dev';
/** The supervisor may be killed by the OOM killer only as a last resort. */
const SUPERVISOR_OOM_SCORE_ADJ = -900;

function die(code: number, message: string): never {
  process.stderr.write(`phoenix-ga: ${message}\n`);
  process.exit(code);
}

/**
 * The worker's runtime and bundle by the path we were started with (LIB/current/...), never its
 * resolved target: each spawn goes through the version link, so after an upgrade switches it the
 * next worker is the new version and nothing is spawned from a removed directory.
 */
function workerPaths(test: boolean): { nodePath: string; agentPath: string } {
  const dir = path.dirname(process.argv[1]);
  // The fault-injection worker (agent-test.js) is built for tests only and never shipped.
  const agentPath = `${dir}/agent${test ? '-test' : ''}.js`;
  if (!fs.existsSync(agentPath)) die(EXIT.usage, `no ${agentPath}`);
  return { nodePath: fs.existsSync(`${dir}/node`) ? `${dir}/node` : process.execPath, agentPath };
}

async function run(settings: Settings): Promise<void> {
  // The product page shows the agent as /usr/sbin/phoenix-ga; `ps -C phoenix-ga` needs comm to be
  // phoenix-ga (the title alone would set comm to its first 15 bytes).
  process.title = process.env.PHOENIX_GA_LAUNCHER ?? 'phoenix-ga';
  try { fs.writeFileSync('/proc/self/comm', 'phoenix-ga'); } catch { /* an old kernel: the title did it */ }
  process.umask(0o077);
  try { fs.writeFileSync('/proc/self/oom_score_adj', String(SUPERVISOR_OOM_SCORE_ADJ)); } catch { /* needs root */ }
  try {
    ensurePrivateDir(settings.runDir);
  } catch (e) {
    die(EXIT.temporary, `run-dir ${settings.runDir}: ${(e as Error).message}`);
  }
  let locked = false;
  try { locked = acquireLock(settings.runDir); } catch (e) { die(EXIT.temporary, `lock ${(e as Error).message}`); }
  if (!locked) {
    const other = readJsonFile<PersistedState>(stateFile(settings.runDir));
    die(EXIT.alreadyRunning, `another phoenix-ga supervisor${other ? ` (pid ${other.supervisor.pid})` : ''} is already running for run-dir ${settings.runDir}`);
  }
  const log = createLogger({ file: settings.logFile, maxBytes: settings.logMaxBytes });
  log.log('info', 'supervisor', `phoenix-ga ${VERSION} starting, pid ${process.pid}, node ${process.version}${settings.configFile ? `, config ${settings.configFile}` : ', built-in defaults'}`);
  const store = createStateStore(settings.runDir, (e) => log.log('error', 'supervisor', `cannot write state: ${e.message}`));
  const previous = store.load();
  const heartbeat = createHeartbeatSender(settings, log);

  const freeze = createFreezeGuard(settings.runDir, log, (p) => log.pause?.(p));
  // A previous supervisor may have died while file systems were frozen.
  freeze.thawNow('found frozen at start');
  let service: Service | null = null;
  const events = {
    connection: (s: import('net').Socket) => service ? service.onConnection(s) : s.destroy(),
    opened: () => service?.onChannelOpened(),
  };
  const channel: Channel = settings.channel.kind === 'unix'
    ? openUnixChannel(settings.channel.path, events, log)
    : openSerialChannel(settings.channel.path, events, log, settings.channel.tty === true);
  // The installed layout (LIB/current/supervisor.js) with an update in progress or reported.
  const lib = path.resolve(process.argv[1], '../..');
  const handover = () => shutdown('handover', EXIT.handover);
  const update = /\/current$/.test(path.dirname(process.argv[1])) && fs.existsSync(`${lib}/update`)
    ? ctlBundle().startUpdateWatch({ lib, version: VERSION, log, rollback: handover }) : null;
  service = new Service({
    settings, log, channel, heartbeat, store, freeze, version: VERSION,
    ...workerPaths(settings.testCommands),
    now: monotonicMs,
    update,
    handover,
  });
  // The worker's start (a second Node start-up) is the longest part of ours: begin it first.
  service.start(previous);
  // After the first beat: V8 flags set at run time make Node compile the built-in modules it loads
  // later from source (crypto, which signs that beat: 6 ms instead of 3 here). Memory is the same.
  startMemoryReducerEarly();
  if ('ready' in channel) {
    await (channel as { ready: Promise<void> }).ready.catch((e: Error) => {
      log.log('error', 'supervisor', `channel unix:${settings.channel.path}: ${e.message}`);
      die(EXIT.temporary, `channel unix:${settings.channel.path}: ${e.message}`);
    });
  }

  function shutdown(signal: string, code: number = EXIT.ok): void {
    log.log('info', 'supervisor', `${signal}: stopping`);
    // The service's last beat says `stopping`: the collector shows a clean stop, not a dead VM.
    service!.stop().then(() => heartbeat.close()).then(() => {
      channel.close();
      log.log('info', 'supervisor', 'stopped');
      process.exit(code);
    });
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // The config file's live keys and the heartbeat key, without a restart (docs/configuration.md).
  process.on('SIGHUP', () => service!.reload());
  // Node's default for SIGUSR1 opens an inspector on 127.0.0.1:9229, which any local user
  // could then use to run code as root; a listener turns that off.
  for (const sig of ['SIGUSR1', 'SIGUSR2'] as const) process.on(sig, () => log.log('info', 'supervisor', `${sig} ignored`));
  process.on('uncaughtException', (e) => {
    // Crash-only: a supervisor bug ends the process; init restarts it and the worker follows. Nothing
    // stays frozen behind it, and the reason reaches the log even while the log is paused.
    freeze.thawNow('the supervisor is exiting after an internal error', true);
    log.fatal('supervisor', `internal error: ${e.stack ?? e.message}`);
    process.exit(70);
  });
}

/** Commands other than `run`, and the update watch, live in dist/ctl.js, loaded only when needed. */
function ctlBundle(): typeof import('./ctl') {
  return require(path.join(__dirname, 'ctl.js')) as typeof import('./ctl');
}

function runCtlBundle(args: ParsedArgs | string[], settings: Settings | null): void {
  process.exitCode = ctlBundle().runCtl(args, settings);
}

function main(): void {
  // install and uninstall read their own options, in dist/ctl.js.
  if (/^(un)?install$/.test(process.argv[2])) { runCtlBundle(process.argv.slice(2), null); return; }
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) die(EXIT.usage, e.message);
    throw e;
  }
  if (args.command === 'version') { process.stdout.write(`phoenix-ga ${VERSION}\n`); return; }
  if (args.command === 'help') { runCtlBundle(args, null); return; }
  let settings: Settings;
  try {
    settings = loadSettings(args.flags);
  } catch (e) {
    if (e instanceof SettingsError) die(EXIT.usage, e.message);
    throw e;
  }
  if (args.command !== 'run') { runCtlBundle(args, settings); return; }
  run(settings).catch((e) => die(70, `internal error: ${(e as Error).stack ?? e}`));
}

main();

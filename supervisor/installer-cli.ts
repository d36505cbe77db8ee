// The install and uninstall commands for a person or the automation: argument checks, the live
// steps on the running system, and the printed outcome. On the running system an install ends
// with the new version running, or with the previous one running again and exit 1.

import * as fs from 'fs';
import * as path from 'path';
import { INSTALLER_HELP } from './help';
import type { InitSystem } from './install/init-system';
import { install, INSTALL_EXIT, LIB, removeInitEntry, removeOldVersions, switchBack, uninstall } from './install/installer';
import { restartService, run, runningInit, stopService, waitRunning, waitStopped, whyNotStart } from './install/live';
import { describe } from './install/in-use';
import { chooseRuntime } from './install/runtime-choice';
import { loadSettings } from './settings';
import { stateFile } from './state-store';

declare const __VERSION__: string;

/** How long the new version gets to have its supervisor and worker running. */
const START_TIMEOUT_MS = 30_000;

function print(code: number, lines: string[]): number {
  (code ? process.stderr : process.stdout).write(lines.join('\n') + '\n');
  return code;
}

/** The state file of the service as its config sets it (null when the config is not valid). */
function stateFileOf(): string | null {
  try { return stateFile(loadSettings(new Map()).runDir); } catch { return null; }
}

interface InstallerArgs { command: 'install' | 'uninstall'; flags: Map<string, string> }

const VALUES = ['root', 'init', 'runtime'];
const SWITCHES = ['no-start', 'from-package', 'allow-downgrade', 'help'];

/** `install|uninstall [--root DIR] [--init KIND] [--runtime NODE] [--no-start] [--from-package [--allow-downgrade]] [--help]`. */
export function parseInstallerArgs(argv: string[]): InstallerArgs | string {
  const flags = new Map<string, string>();
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i] === '-h' ? '--help' : argv[i];
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? a.slice(2, eq < 0 ? undefined : eq) : '';
    if (VALUES.includes(name)) {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) return `--${name} needs a value`;
      flags.set(name, v);
    } else if (SWITCHES.includes(name) && eq < 0) flags.set(name, '');
    else return `unexpected argument '${a}' (see phoenix-ga install --help)`;
  }
  return { command: argv[0] as InstallerArgs['command'], flags };
}

export function runInstaller(argv: string[]): number {
  const args = parseInstallerArgs(argv);
  if (typeof args === 'string') { process.stderr.write(`phoenix-ga ${argv[0]}: ${args}\n`); return INSTALL_EXIT.usage; }
  if (args.flags.has('help')) { process.stdout.write(INSTALLER_HELP); return 0; }
  const root = path.resolve(args.flags.get('root') ?? '/');
  const initFlag = args.flags.get('init') ?? 'auto';
  if (!['auto', 'systemd', 'sysvinit', 'upstart'].includes(initFlag)) {
    process.stderr.write(`phoenix-ga ${args.command}: --init: expected auto, systemd, sysvinit or upstart, got '${initFlag}'\n`);
    return INSTALL_EXIT.usage;
  }
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) {
    process.stderr.write(`phoenix-ga ${args.command}: --root ${root} is not a directory\n`);
    return INSTALL_EXIT.usage;
  }
  // Building an image in a chroot, or a policy-rc.d that says no: files only, as invoke-rc.d does.
  const noStart = root === '/' && !args.flags.has('no-start') ? whyNotStart() : null;
  const live = root === '/' && !args.flags.has('no-start') && noStart === null;
  if (args.command === 'uninstall') return runUninstall(root, live, noStart);
  const dir = __dirname;
  const version = typeof __VERSION__ === 'string' ? __VERSION__ : '0.0.0-dev';
  const runtime = args.flags.has('runtime') ? { node: args.flags.get('runtime')!, line: null } : chooseRuntime(root, dir, process.execPath);
  const r = install(root, { version, dir, node: runtime.node, packaged: args.flags.has('from-package'), allowDowngrade: args.flags.has('allow-downgrade') }, initFlag as InitSystem | 'auto');
  if (r.code !== 0) return print(r.code, r.lines);
  const lines = [...r.lines];
  if (runtime.line) lines.splice(1, 0, runtime.line);
  if (r.kept) {
    lines.push(`  ${r.kept} keeps running: an update over the channel installed it and it is newer than this package's ${version}`,
      `  to run ${version} instead: PHOENIX_GA_ALLOW_DOWNGRADE=yes dpkg-reconfigure phoenix-ga`);
  } else if (live) {
    // A second run that changed nothing leaves a service of this version alone.
    const failed = startInstalled(version, r.previous ?? null, r.lines.length > 1, lines);
    if (failed) return print(INSTALL_EXIT.failed, lines);
  }
  if (noStart) lines.push(`  not started: ${noStart}; it starts at the next boot`);
  lines.push(...removeOldVersions(root).map((l) => `  ${l}`));
  return print(0, lines);
}

/**
 * Has the running init start VERSION and waits until it runs; if it does not, switches back to
 * PREVIOUS and starts that. Appends what happened to LINES; true when VERSION is not running.
 */
function startInstalled(version: string, previous: string | null, changed: boolean, lines: string[]): boolean {
  const init = runningInit();
  const lib = LIB;
  const state = stateFileOf();
  const vdir = `${lib}/${version}`;
  if (changed || waitRunning(lib, vdir, 0, state) !== null) lines.push(...restartService(init, lib, vdir).map((l) => `  ${l}`));
  const why = waitRunning(lib, vdir, START_TIMEOUT_MS, state);
  if (why === null) { lines.push(`  ${version} is running (supervisor and worker)`); return false; }
  lines.push(`phoenix-ga install: ${version} is not running after ${START_TIMEOUT_MS / 1000} s: ${why}`);
  if (!previous || !fs.existsSync(`${lib}/${previous}`)) { lines.push('  no previous version to go back to; the log says why (/var/log/phoenix-ga.log)'); return true; }
  switchBack('/', previous);
  lines.push(`  switched ${lib}/current back to ${previous}`, ...restartService(init, lib, `${lib}/${previous}`).map((l) => `  ${l}`));
  const back = waitRunning(lib, `${lib}/${previous}`, START_TIMEOUT_MS, state);
  lines.push(back === null ? `  ${previous} is running again` : `  ${previous} is not running either: ${back}`);
  if (back === null) lines.push(...removeOldVersions('/').map((l) => `  ${l}`));
  return true;
}

/** Uninstall; on the running system the service is stopped first, and its files go only then. */
function runUninstall(root: string, live: boolean, noStart: string | null): number {
  const extra: string[] = [];
  const lib = path.join(root, LIB);
  const init = live ? runningInit() : null;
  if (init) {
    // init stops a respawn entry once it is gone from inittab and init has re-read the file.
    if (init === 'sysvinit') extra.push(...removeInitEntry(root, 'sysvinit'));
    extra.push(...stopService(init));
    const left = waitStopped(lib, 20_000);
    if (left.length) extra.push(`still running after the stop: ${describe(left)}`);
  }
  const r = uninstall(root);
  // systemd forgets the unit file that is gone.
  if (init === 'systemd') extra.push(run('systemctl', ['daemon-reload']).line);
  if (noStart) extra.push(`nothing stopped: ${noStart}`);
  return print(r.code, [...r.lines, ...extra.map((l) => `  ${l}`)]);
}

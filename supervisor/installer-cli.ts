// The install and uninstall commands for a person or the automation: argument checks, the live
// steps on the running system (daemon-reload and start, telinit q), and the printed outcome.

import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { ParsedArgs } from './cli';
import { install, INSTALL_EXIT, uninstall } from './install/installer';
import type { InitSystem } from './install/init-system';

declare const __VERSION__: string;

function live(cmd: string, args: string[]): string {
  try { execFileSync(cmd, args, { stdio: 'ignore', timeout: 30_000 }); return `ran ${cmd} ${args.join(' ')}`; } catch (e) { return `${cmd} ${args.join(' ')} failed: ${(e as Error).message.split('\n')[0]}`; }
}

/** The init running now (only when installing into "/"). */
function runningInit(): InitSystem | null {
  if (fs.existsSync('/run/systemd/system')) return 'systemd';
  let exe = '';
  try { exe = fs.readlinkSync('/proc/1/exe'); } catch { /* not ours to read */ }
  if (fs.existsSync('/sbin/initctl') && /upstart/.test(exe)) return 'upstart';
  return 'sysvinit';
}

export function runInstaller(args: ParsedArgs): number {
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
  const liveSystem = root === '/' && !args.flags.has('no-start');
  const extra: string[] = [];
  if (args.command === 'uninstall') {
    if (liveSystem && runningInit() === 'systemd') extra.push(live('systemctl', ['disable', '--now', 'phoenix-ga']));
    if (liveSystem && runningInit() === 'upstart') extra.push(live('initctl', ['stop', 'phoenix-ga']));
    const r = uninstall(root);
    // sysvinit stops a respawn entry that is gone from inittab when it re-reads the file.
    if (liveSystem && runningInit() === 'sysvinit') extra.push(live('telinit', ['q']));
    (r.code ? process.stderr : process.stdout).write([...r.lines, ...extra.map((l) => `  ${l}`)].join('\n') + '\n');
    return r.code;
  }
  const dir = __dirname;
  const runtime = args.flags.get('runtime') ?? (fs.existsSync(path.join(dir, 'node')) ? path.join(dir, 'node') : process.execPath);
  const r = install(root, { version: typeof __VERSION__ === 'string' ? __VERSION__ : '0.0.0-dev', dir, node: runtime }, initFlag as InitSystem | 'auto');
  if (r.code === 0 && liveSystem) {
    const init = runningInit();
    if (init === 'systemd') { extra.push(live('systemctl', ['daemon-reload'])); extra.push(live('systemctl', ['restart', 'phoenix-ga'])); }
    else if (init === 'upstart') extra.push(live('initctl', ['start', 'phoenix-ga']));
    else extra.push(live('telinit', ['q']));
  }
  (r.code ? process.stderr : process.stdout).write([...r.lines, ...extra.map((l) => `  ${l}`)].join('\n') + '\n');
  return r.code;
}

// The installed layout an update works in: LIB/VERSION/ directories, LIB/current (the link the
// launcher and each worker spawn go through), and LIB/update/ holding the update in progress:
//   pending   "NEW PREVIOUS WINDOW_S": NEW was switched to and has not yet proven itself
//   starts    one line per start of NEW by the launcher (it switches back after MAX_STARTS)
//   last.json how the last update ended (updated, update-failed), reported until the next one
// The launcher (init/phoenix-ga.sh) reads the first two in shell: keep the formats that simple.

import fs = require('fs');
import path = require('path');
import { writeFileAtomic } from '../atomic-file';

/** Starts of a pending version the launcher allows before switching back (init/phoenix-ga.sh). */
export const MAX_STARTS = 3;
/** Seconds the new version's worker has, from its supervisor's start, to become ready. */
export const DEFAULT_WINDOW_S = 60;

/** Why an update failed, as the heartbeat says it (an enumerated word; the text is in the status). */
export type UpdateFailure = 'not-ready' | 'supervisor-failed';
export interface UpdateResult {
  state: 'updated' | 'update-failed';
  from: string;
  to: string;
  why?: UpdateFailure;
  reason?: string;
  at: string;
}
export interface Pending { version: string; previous: string; windowS: number }

/** LIB when SCRIPT runs from LIB/current/ (the installed layout), else null. */
export function libOf(script: string): string | null {
  const dir = path.dirname(script);
  return path.basename(dir) === 'current' ? path.dirname(dir) : null;
}

export const updateDir = (lib: string): string => `${lib}/update`;

export function readPending(lib: string): Pending | null {
  let text: string;
  try { text = fs.readFileSync(`${updateDir(lib)}/pending`, 'utf8'); } catch { return null; }
  const m = /^(\S+) (\S+) (\d+)\n$/.exec(text);
  return m ? { version: m[1], previous: m[2], windowS: Number(m[3]) } : null;
}

export function writePending(lib: string, p: Pending): void {
  fs.mkdirSync(updateDir(lib), { recursive: true, mode: 0o700 });
  try { fs.unlinkSync(`${updateDir(lib)}/starts`); } catch { /* none */ }
  writeFileAtomic(`${updateDir(lib)}/pending`, `${p.version} ${p.previous} ${p.windowS}\n`);
}

/** Ends the pending update with RESULT: last.json first, so a cut between the two leaves it reported. */
export function finishUpdate(lib: string, result: UpdateResult): void {
  writeFileAtomic(`${updateDir(lib)}/last.json`, JSON.stringify(result) + '\n');
  for (const f of ['pending', 'starts']) try { fs.unlinkSync(`${updateDir(lib)}/${f}`); } catch { /* gone */ }
}

export function readResult(lib: string): UpdateResult | null {
  try { return JSON.parse(fs.readFileSync(`${updateDir(lib)}/last.json`, 'utf8')) as UpdateResult; } catch { return null; }
}

/** The version LIB/current names, or null. */
export function currentVersion(lib: string): string | null {
  try { return fs.readlinkSync(`${lib}/current`); } catch { return null; }
}

/** Points LIB/current at VERSION by one rename, durable before it returns. */
export function switchCurrent(lib: string, version: string): void {
  const tmp = `${lib}/current.phoenix-new`;
  try { fs.unlinkSync(tmp); } catch { /* none left */ }
  fs.symlinkSync(version, tmp);
  fs.renameSync(tmp, `${lib}/current`);
  const dfd = fs.openSync(lib, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
}

/** Where the layout lives in a system tree; dpkg's file list names the .deb's version directory under it. */
const LIB_PATH = '/usr/lib/phoenix-ga';

/**
 * The version directories of LIB that dpkg installed: the lines `/usr/lib/phoenix-ga/VERSION` of
 * its file list (what `dpkg -L phoenix-ga` prints), read from the tree LIB is in. dpkg removes
 * them itself on upgrade and removal; nothing else may, or `dpkg -V` and the prerm break.
 */
export function packagedVersions(lib: string): string[] {
  if (!lib.endsWith(LIB_PATH)) return [];
  let list: string;
  try { list = fs.readFileSync(`${lib.slice(0, -LIB_PATH.length)}/var/lib/dpkg/info/phoenix-ga.list`, 'utf8'); } catch { return []; }
  return [...list.matchAll(/^\/usr\/lib\/phoenix-ga\/([^/\n]+)$/gm)].map((m) => m[1]);
}

/** Removes the version directories of LIB other than KEEP and dpkg's (and leftovers of a cut staging). */
export function pruneVersions(lib: string, keep: string[]): string[] {
  const removed: string[] = [];
  const packaged = packagedVersions(lib);
  for (const name of fs.readdirSync(lib)) {
    if (keep.includes(name) || packaged.includes(name) || name === 'current' || name === 'update') continue;
    const p = `${lib}/${name}`;
    if (!fs.lstatSync(p).isDirectory()) continue;
    fs.rmSync(p, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

// `phoenix-ga install [--root DIR] [--init auto|systemd|sysvinit|upstart]` and `uninstall`: puts the
// runtime, the bundles, the launcher, a default config and the init entry into a system tree
// (the running system, or a mounted image: nothing inside it is run), enabled for boot.
// Idempotent (a second run changes nothing), atomic per file, with the runtime switched by one
// symlink rename (old version or new, never a mix); a version directory a process still runs from
// is never deleted; uninstall removes what install added.

import * as fs from 'fs';
import * as path from 'path';
import { currentVersion, packagedVersions, readPending } from '../update/layout';
import { compareVersions } from '../update/release';
import { describe, processesUsing } from './in-use';
import { detectInit, InitSystem } from './init-system';
import { TreeError, treeFiles } from './tree-files';

export const LIB = '/usr/lib/phoenix-ga';
export const LAUNCHER = '/usr/sbin/phoenix-ga';
export const CONFIG = '/etc/phoenix-ga/phoenix-ga.conf';
export const MANIFEST = '/var/lib/phoenix-ga/install.json';
/** The public keys a release must be signed with (docs/updates.md); the package brings them in init/release-keys/. */
export const RELEASE_KEYS = '/etc/phoenix-ga/release-keys';
const UNIT = '/etc/systemd/system/phoenix-ga.service';
const WANTS = '/etc/systemd/system/multi-user.target.wants/phoenix-ga.service';
const UPSTART = '/etc/init/phoenix-ga.conf';
const INITTAB = '/etc/inittab';
const BEGIN = '#-- PGA begin', END = '#-- PGA end';

export const INSTALL_EXIT = { ok: 0, failed: 1, usage: 2, unknownLayout: 4 } as const;

export interface Payload {
  version: string;
  /** Directory with supervisor.js, agent.js, agent-rare.js, ctl.js and init/. */
  dir: string;
  /** The Node runtime to install. */
  node: string;
  /**
   * Run by the .deb's postinst: dpkg owns the version's files, the launcher and the config (a
   * conffile); the installer adds only the `current` link and the init entry.
   */
  packaged?: boolean;
  /** With packaged: switch to the package's version even when a newer one, installed by an update over the channel, runs. */
  allowDowngrade?: boolean;
}

export interface Manifest { version: string; init: InitSystem; files: string[]; inittabBlock: boolean; configInstalled: string | null; createdDirs?: string[]; packaged?: boolean }

/** Directories install may create; the ones that were not there before go again on uninstall. */
const MAYBE_CREATED = ['/var', '/var/lib', '/var/lib/phoenix-ga', '/usr/lib', '/usr/lib/phoenix-ga', '/usr/sbin', '/etc/phoenix-ga',
  '/etc/systemd', '/etc/systemd/system', '/etc/systemd/system/multi-user.target.wants', '/etc/init'];

export interface Outcome {
  code: number;
  lines: string[];
  init?: InitSystem;
  previous?: string | null;
  /** The newer version `current` was left at instead of the package's (an update over the channel installed it). */
  kept?: string;
}

const BUNDLES = ['supervisor.js', 'agent.js', 'agent-rare.js', 'ctl.js'];
const INIT_FILES = ['phoenix-ga.sh', 'etc/phoenix-ga.conf', 'systemd/phoenix-ga.service', 'sysvinit/inittab.block', 'upstart/phoenix-ga.conf'];

function initText(payload: Payload, rel: string): string {
  return fs.readFileSync(path.join(payload.dir, 'init', rel), 'utf8');
}

/** /usr/sbin/phoenix-ga: the launcher template of the package in DIR, pointed at LIB/current. */
export function launcherText(dir: string): string {
  return fs.readFileSync(path.join(dir, 'init/phoenix-ga.sh'), 'utf8').replace('@LIB@', `${LIB}/current`);
}

/** The inittab text with our block in place of an existing one (or appended), the rest untouched. */
export function inittabWith(text: string, block: string | null): string {
  const lines = text.split('\n');
  const b = lines.indexOf(BEGIN), e = lines.indexOf(END);
  const ours = block === null ? [] : block.replace(/\n$/, '').split('\n');
  if (b >= 0 && e > b) {
    lines.splice(b, e - b + 1, ...ours);
    return lines.join('\n').replace(/\n{3,}$/, '\n');
  }
  if (block === null) return text;
  return (text === '' || text.endsWith('\n') ? text : text + '\n') + block;
}

export function install(root: string, payload: Payload, initChoice: InitSystem | 'auto'): Outcome {
  const lines: string[] = [];
  const t = treeFiles(root);
  const det = initChoice === 'auto' ? detectInit(root) : { ok: true as const, init: initChoice, evidence: 'chosen with --init' };
  if (!det.ok) return { code: INSTALL_EXIT.unknownLayout, lines: [`phoenix-ga install: refused, nothing written: ${det.reason}`] };
  if (det.init === 'sysvinit' && !t.exists(INITTAB)) return { code: INSTALL_EXIT.unknownLayout, lines: [`phoenix-ga install: refused, nothing written: --init sysvinit but ${t.at(INITTAB)} does not exist`] };
  for (const f of [...BUNDLES.map((b) => path.join(payload.dir, b)), payload.node]) {
    if (!fs.existsSync(f)) return { code: INSTALL_EXIT.failed, lines: [`phoenix-ga install: the package is incomplete: ${f} is missing; nothing written`] };
  }
  const changed = (what: string, did: boolean) => { if (did) lines.push(`  ${what}`); };
  const previous = readManifest(root);
  let previousVersion: string | null = null;
  try { previousVersion = fs.readlinkSync(t.at(`${LIB}/current`)); } catch { /* first install */ }
  const createdDirs = previous?.createdDirs ?? MAYBE_CREATED.filter((d) => !t.exists(d));
  const kept = payload.packaged && !payload.allowDowngrade && previousVersion !== null ? newerThanPackage(t, previousVersion, payload.version) : null;
  try {
    // 1. The version's files in a directory of their own; nothing refers to it yet.
    const vdir = `${LIB}/${payload.version}`;
    t.mkdir(vdir, 0o755);
    changed(`${vdir}/node`, t.copy(payload.node, `${vdir}/node`, 0o755));
    for (const b of BUNDLES) changed(`${vdir}/${b}`, t.put(`${vdir}/${b}`, fs.readFileSync(path.join(payload.dir, b)), 0o644));
    // The init files too, so the installed copy can repair or move its own installation.
    for (const rel of INIT_FILES) changed(`${vdir}/init/${rel}`, t.put(`${vdir}/init/${rel}`, initText(payload, rel), rel.endsWith('.sh') ? 0o755 : 0o644));
    // 2. One rename switches the version the launcher and the next worker start; the previous
    // version stays until nothing runs from it (removeOldVersions).
    if (!kept) changed(`${LIB}/current -> ${payload.version}`, t.symlink(payload.version, `${LIB}/current`));
    if (!payload.packaged) changed(LAUNCHER, t.put(LAUNCHER, launcherText(payload.dir), 0o755));
    // 3. The configuration only when there is none: an upgrade keeps the operator's (and the key).
    let configInstalled: string | null = null;
    if (!t.exists(CONFIG) && !payload.packaged) {
      t.mkdir(path.dirname(CONFIG), 0o700);
      configInstalled = initText(payload, 'etc/phoenix-ga.conf');
      changed(CONFIG, t.put(CONFIG, configInstalled, 0o600));
    } else configInstalled = previous?.configInstalled ?? null;
    // The release keys the package trusts are added; keys an update brought (rotation) stay.
    for (const k of packageKeys(payload)) {
      t.mkdir(RELEASE_KEYS, 0o755);
      changed(`${RELEASE_KEYS}/${k}`, t.put(`${RELEASE_KEYS}/${k}`, fs.readFileSync(path.join(payload.dir, 'init/release-keys', k)), 0o644));
    }
    // 4. The init entry, enabled for boot without the init running.
    let inittabBlock = false;
    if (det.init === 'systemd') {
      changed(UNIT, t.put(UNIT, initText(payload, 'systemd/phoenix-ga.service'), 0o644));
      changed(`${WANTS} -> ${UNIT}`, t.symlink(UNIT, WANTS));
    } else if (det.init === 'upstart') {
      changed(UPSTART, t.put(UPSTART, initText(payload, 'upstart/phoenix-ga.conf'), 0o644));
    } else {
      const cur = t.read(INITTAB) ?? '';
      changed(`${INITTAB} (the #-- PGA block)`, t.put(INITTAB, inittabWith(cur, initText(payload, 'sysvinit/inittab.block')), fs.statSync(t.at(INITTAB)).mode & 0o7777));
      inittabBlock = true;
    }
    const ours = payload.packaged ? [`${LIB}/current`] : [`${LIB}`, LAUNCHER];
    const files = [...ours, ...(det.init === 'systemd' ? [UNIT, WANTS] : det.init === 'upstart' ? [UPSTART] : [])];
    const manifest: Manifest = { version: payload.version, init: det.init, files, inittabBlock, configInstalled, createdDirs, ...(payload.packaged ? { packaged: true } : {}) };
    t.mkdir(path.dirname(MANIFEST), 0o700);
    t.put(MANIFEST, JSON.stringify(manifest, null, 1) + '\n', 0o600);
    if (previous && previous.init !== det.init) lines.push(...removeInitEntry(root, previous.init).map((l) => `  ${l}`));
  } catch (e) {
    const why = e instanceof TreeError ? e.message : `${(e as NodeJS.ErrnoException).code ?? ''} ${(e as Error).message}`;
    return { code: INSTALL_EXIT.failed, lines: [...lines, `phoenix-ga install: failed: ${why}`] };
  }
  const head = `phoenix-ga ${payload.version} installed into ${root} for ${det.init} (${det.evidence})`;
  const prev = previousVersion === payload.version ? null : previousVersion;
  const outcome: Outcome = { code: INSTALL_EXIT.ok, init: det.init, previous: prev, lines: lines.length ? [head, 'changed:', ...lines] : [`${head}: already installed, nothing changed`] };
  if (kept) outcome.kept = kept;
  return outcome;
}

/**
 * RUNNING when it is a complete version, newer than the package's VERSION: an update over the
 * channel installed it, since dpkg has just removed its own older directory. A .deb that comes
 * later with an older version (an apt repository behind the panel) does not undo that update.
 */
function newerThanPackage(t: ReturnType<typeof treeFiles>, running: string, version: string): string | null {
  if (running === version || !BUNDLES.every((b) => t.exists(`${LIB}/${running}/${b}`)) || !t.exists(`${LIB}/${running}/node`)) return null;
  return compareVersions(running, version) === 1 ? running : null;
}

function packageKeys(payload: Payload): string[] {
  try { return fs.readdirSync(path.join(payload.dir, 'init/release-keys')).filter((n) => /^[0-9a-f]{16}\.pub$/.test(n)); } catch { return []; }
}

/** Points `current` back at VERSION (an upgrade that did not start). */
export function switchBack(root: string, version: string): void {
  const t = treeFiles(root);
  t.symlink(version, `${LIB}/current`);
  const m = readManifest(root);
  if (m) t.put(MANIFEST, JSON.stringify({ ...m, version }, null, 1) + '\n', 0o600);
}

/**
 * Removes the version directories other than the one `current` names, the previous one of an update
 * still being proven and dpkg's (dpkg removes those), except those a process still runs from.
 */
export function removeOldVersions(root: string): string[] {
  const t = treeFiles(root);
  const cur = currentVersion(t.at(LIB));
  const pending = readPending(t.at(LIB));
  const keep = [cur, pending && pending.version === cur ? pending.previous : null, 'current', 'update'];
  return removeFromLib(root, (name) => keep.includes(name) || name.endsWith('.phoenix-new'), 'old version ');
}

/** Removes the entries of LIB but dpkg's version directories and those KEEP names, except what a process still runs from. */
function removeFromLib(root: string, keep: (name: string) => boolean, what = ''): string[] {
  const t = treeFiles(root);
  const lines: string[] = [];
  let names: string[] = [];
  try { names = fs.readdirSync(t.at(LIB)); } catch { return lines; }
  const packaged = packagedVersions(t.at(LIB));
  for (const old of names) {
    if (keep(old) || packaged.includes(old)) continue;
    const users = processesUsing(t.at(`${LIB}/${old}`));
    if (users.length) lines.push(`kept ${LIB}/${old}: in use by ${describe(users)}; the next install removes it`);
    else if (t.remove(`${LIB}/${old}`)) lines.push(`removed ${what}${LIB}/${old}`);
  }
  return lines;
}

function readManifest(root: string): Manifest | null {
  try { return JSON.parse(fs.readFileSync(treeFiles(root).at(MANIFEST), 'utf8')) as Manifest; } catch { return null; }
}

export function removeInitEntry(root: string, init: InitSystem): string[] {
  const t = treeFiles(root);
  const out: string[] = [];
  if (init === 'systemd') { if (t.remove(WANTS)) out.push(`removed ${WANTS}`); if (t.remove(UNIT)) out.push(`removed ${UNIT}`); }
  if (init === 'upstart' && t.remove(UPSTART)) out.push(`removed ${UPSTART}`);
  if (init === 'sysvinit') {
    const cur = t.read(INITTAB);
    if (cur !== null && cur.includes(BEGIN)) { t.put(INITTAB, inittabWith(cur, null), fs.statSync(t.at(INITTAB)).mode & 0o7777); out.push(`removed the #-- PGA block from ${INITTAB}`); }
  }
  return out;
}

export function uninstall(root: string): Outcome {
  const t = treeFiles(root);
  const m = readManifest(root);
  if (!m) return { code: INSTALL_EXIT.ok, lines: [`phoenix-ga is not installed in ${root} (no ${MANIFEST}); nothing removed`] };
  const lines = removeInitEntry(root, m.init);
  if (m.packaged) {
    for (const f of [...m.files, MANIFEST]) if (f !== UNIT && f !== WANTS && f !== UPSTART && t.remove(f)) lines.push(`removed ${f}`);
    // What updates over the channel added beside the package's files: their versions and records.
    lines.push(...removeFromLib(root, () => false));
    for (const d of [...(m.createdDirs ?? [])].sort((a, b) => b.length - a.length)) {
      try { fs.rmdirSync(t.at(d)); lines.push(`removed ${d}`); } catch { /* not empty (the state), or gone */ }
    }
    lines.push('kept the package\'s files, the config, the key, the state and the log: dpkg -r removes the first, dpkg -P all of them');
    return { code: INSTALL_EXIT.ok, lines: [`phoenix-ga ${m.version} (.deb) uninstalled from ${root}:`, ...lines.map((l) => `  ${l}`)] };
  }
  let code: number = INSTALL_EXIT.ok;
  for (const f of m.files) {
    if (f === UNIT || f === WANTS || f === UPSTART) continue;
    const users = processesUsing(t.at(f));
    if (users.length) { lines.push(`kept ${f}: in use by ${describe(users)}`); code = INSTALL_EXIT.failed; } else if (t.remove(f)) lines.push(`removed ${f}`);
  }
  if (t.remove(RELEASE_KEYS)) lines.push(`removed ${RELEASE_KEYS}`);
  // The configuration goes only if it is still the one we installed; the operator's stays.
  const cfg = t.read(CONFIG);
  if (cfg !== null && m.configInstalled !== null && cfg === m.configInstalled) {
    t.remove(CONFIG);
    lines.push(`removed ${CONFIG}`);
    try { fs.rmdirSync(t.at(path.dirname(CONFIG))); lines.push(`removed ${path.dirname(CONFIG)}`); } catch { /* holds the key or other files */ }
  } else if (cfg !== null) lines.push(`kept ${CONFIG} (changed since installed)`);
  // What the agent wrote while it ran: the journal and statistics, the log.
  for (const p of ['/var/lib/phoenix-ga', '/var/log/phoenix-ga.log', '/var/log/phoenix-ga.log.1', '/run/phoenix-ga']) if (t.remove(p)) lines.push(`removed ${p}`);
  for (const d of [...(m.createdDirs ?? [])].sort((a, b) => b.length - a.length)) {
    try { fs.rmdirSync(t.at(d)); lines.push(`removed ${d}`); } catch { /* not empty, or gone */ }
  }
  return { code, lines: [`phoenix-ga ${m.version} uninstalled from ${root}:`, ...lines.map((l) => `  ${l}`)] };
}

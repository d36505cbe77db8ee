// phoenix-release-apply: checks an uploaded release (the signature against the installed release
// keys, the version against the installed one) and refuses with the reason, changing nothing; else
// builds LIB/VERSION/ (verified file by file as staged), records the update as pending, switches
// `current` by one rename and asks the supervisor to hand over. The new supervisor watches its
// worker and switches back by itself when it does not become ready (supervisor/update/watch.ts);
// the launcher does when the new supervisor cannot start at all.

import fs = require('fs');
import path = require('path');
import type { KeyObject } from 'crypto';
import { writeFileAtomic } from '../../supervisor/atomic-file';
import { currentVersion, DEFAULT_WINDOW_S, packagedVersions, readPending, switchCurrent, writePending } from '../../supervisor/update/layout';
import { fileSha256, keyId, NEXT_KEY_PATTERN, parsePublicKey, ReleaseError, ReleaseManifest, refusesVersion, verifyManifest } from '../../supervisor/update/release';
import { QgaError } from '../wire/reply';
import { errCode, flatName, OwnDir, sizeIn } from './release-dir';
import { checkVersion, uploadDir, UploadDeps } from './release-upload';

const bad = (why: string): never => { throw new QgaError('GenericError', why); };
const MAX_SMALL_FILE = 64 << 10;

export interface ApplyDeps extends UploadDeps {
  /** LIB of the installed layout, null when the agent does not run from LIB/current. */
  lib: string | null;
  /** The running version. */
  installed: string;
  keysDir: string;
  /** Called once the reply is on its way: the supervisor stops and the init starts `current`. */
  handover(): void;
}

/** The installed release keys, by id; a file whose name is not its key's id is not used. */
export function releaseKeys(dir: string): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  let names: string[] = [];
  try { names = fs.readdirSync(dir); } catch { return keys; }
  for (const n of names) {
    const m = /^([0-9a-f]{16})\.pub$/.exec(n);
    if (!m) continue;
    try {
      const st = fs.lstatSync(`${dir}/${n}`);
      if (!st.isFile() || st.size > MAX_SMALL_FILE || st.uid !== 0 && st.uid !== process.getuid?.() || st.mode & 0o022) continue;
      const k = parsePublicKey(fs.readFileSync(`${dir}/${n}`, 'utf8'), n);
      if (keyId(k) === m[1]) keys.set(m[1], k);
    } catch { /* not a key: not trusted */ }
  }
  return keys;
}

function readSmall(dir: OwnDir, name: string): Buffer | null {
  const size = sizeIn(dir, name);
  if (size === null) return null;
  if (size > MAX_SMALL_FILE) bad(`${name} is ${size} bytes; at most ${MAX_SMALL_FILE}`);
  return fs.readFileSync(dir.at(name));
}

/** Copies the release's files into TMP and checks each copy against the manifest; the reason if one differs. */
function stage(dir: OwnDir, m: ReleaseManifest, lib: string, tmp: string): string | null {
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { mode: 0o755 });
  const runtime = m.files.some((f) => f.name === 'node') ? [] : [{ name: 'node', from: fs.realpathSync(`${lib}/current/node`) }];
  for (const f of [...m.files.filter((x) => !NEXT_KEY_PATTERN.test(x.name)).map((x) => ({ name: x.name, from: dir.at(flatName(x.name)) })), ...runtime]) {
    const to = path.join(tmp, f.name);
    fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o755 });
    fs.copyFileSync(f.from, to);
    fs.chmodSync(to, f.name === 'node' || f.name.endsWith('.sh') ? 0o755 : 0o644);
    const want = m.files.find((x) => x.name === f.name);
    const fd = fs.openSync(to, fs.constants.O_RDONLY);
    try {
      const size = fs.fstatSync(fd).size;
      if (want && size !== want.size) return `${f.name} is ${size} bytes, the manifest says ${want.size}${size < want.size ? ' (upload incomplete)' : ''}`;
      if (want && fileSha256(fs, fd) !== want.sha256) return `${f.name} does not match its sha256 in the manifest (changed after signing)`;
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
  return null;
}

function syncDir(d: string): void {
  const fd = fs.openSync(d, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

export function applyRelease(d: ApplyDeps, version: string, windowS = DEFAULT_WINDOW_S): Record<string, unknown> {
  checkVersion(version);
  const lib = d.lib ?? bad('the agent does not run from an installed version directory (LIB/current); updates need the installed layout');
  const previous = currentVersion(lib);
  if (previous !== d.installed) bad(`${lib}/current names ${previous ?? 'nothing'} but ${d.installed} runs; restart the service first`);
  const pending = readPending(lib);
  if (pending) bad(`an update to ${pending.version} is still being proven; wait until the agent reports its result`);
  const dir = uploadDir(d, version, false) ?? bad(`no upload of ${version}: send it with phoenix-release-put first`);
  const tmp = `${lib}/${version}.phoenix-new`;
  try {
    let m: ReleaseManifest;
    try {
      const manifest = readSmall(dir, 'manifest.json') ?? bad(`the upload of ${version} has no manifest.json`);
      m = verifyManifest(manifest, readSmall(dir, 'manifest.sig'), releaseKeys(d.keysDir));
    } catch (e) {
      return bad(e instanceof ReleaseError ? `release ${version} refused: ${e.message}` : (e as Error).message);
    }
    if (m.version !== version) bad(`release ${version} refused: its signed manifest is of version ${m.version}`);
    const why = refusesVersion(m, d.installed);
    if (why) bad(`release ${version} refused: ${why}`);
    if (version === d.installed) bad(`release ${version} refused: it is the running version`);
    // Replacing the .deb's directory would change files dpkg checks and removes.
    if (packagedVersions(lib).includes(version)) bad(`release ${version} refused: ${lib}/${version} is the .deb's (dpkg owns it); install that package's version with dpkg instead`);
    for (const f of m.files) if (sizeIn(dir, flatName(f.name)) === null) bad(`release ${version} refused: ${f.name} was not uploaded`);
    const bad2 = stage(dir, m, lib, tmp);
    if (bad2) { fs.rmSync(tmp, { recursive: true, force: true }); bad(`release ${version} refused: ${bad2}; nothing changed`); }
    // The directories' entries on disk too, before anything names them: a power cut after the switch finds whole files.
    // (A next key is not staged: it goes to the keys directory below.)
    for (const d of new Set([tmp, ...m.files.filter((f) => !NEXT_KEY_PATTERN.test(f.name)).map((f) => path.dirname(path.join(tmp, f.name)))])) syncDir(d);
    // A directory of this version left by an earlier attempt that rolled back is replaced.
    fs.rmSync(`${lib}/${version}`, { recursive: true, force: true });
    fs.renameSync(tmp, `${lib}/${version}`);
    // Key rotation: the release's next key, signed by a current one, is trusted from now on. On the
    // disk before the switch: a power cut must not leave the new version with an empty key file.
    const nextKeys = m.files.filter((x) => NEXT_KEY_PATTERN.test(x.name));
    for (const f of nextKeys) {
      const to = `${d.keysDir}/${path.basename(f.name)}`;
      writeFileAtomic(to, fs.readFileSync(dir.at(flatName(f.name)), 'utf8'), { mode: 0o644 });
      fs.chmodSync(to, 0o644);
    }
    if (nextKeys.length) syncDir(d.keysDir);
    writePending(lib, { version, previous: previous!, windowS });
    switchCurrent(lib, version);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (e instanceof QgaError) throw e;
    return bad(`release ${version} could not be staged (${errCode(e)}); nothing changed`);
  } finally {
    dir.close();
  }
  // The upload is in LIB/VERSION now; its staging copy goes.
  fs.rmSync(path.join(d.sys.at(d.stateDir), 'incoming', version), { recursive: true, force: true });
  // The reply goes out first; then the supervisor stops and the init starts the new version.
  setTimeout(() => d.handover(), 200);
  return { version, previous, state: 'restarting', window_s: windowS };
}

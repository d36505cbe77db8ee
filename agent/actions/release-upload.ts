// phoenix-release-put and phoenix-release-status: a release arrives over the channel in bounded
// chunks into STATE/incoming/VERSION/ (root's, 0700), one upload at a time, and survives a
// disconnect or a worker restart: the status says what is there, and the panel resumes from it.

import fs = require('fs');
import { fileSha256, NEXT_KEY_PATTERN, parseManifest, ReleaseManifest, UPLOAD_NAMES, VERSION_PATTERN } from '../../supervisor/update/release';
import { decodeBase64 } from '../commands/base64';
import type { System } from '../os/system';
import { QgaError } from '../wire/reply';
import { errCode, flatName, openIn, openOwnDir, OwnDir, removeIn, sizeIn } from './release-dir';

/** Decoded bytes per chunk: a chunk's request stays far below the default max-request-bytes. */
export const MAX_CHUNK_BYTES = 48 << 10;
const bad = (why: string): never => { throw new QgaError('GenericError', why); };

export interface UploadDeps { sys: System; stateDir: string; maxBytes: number }
export interface PutArgs { version: string; file: string; offset: number; data: string; sha256?: string }

export function checkVersion(v: string): void {
  if (!VERSION_PATTERN.test(v)) bad(`Parameter 'version' expected MAJOR.MINOR.PATCH[-PRE], got '${v.slice(0, 64)}'`);
}

function checkFile(f: string): void {
  if (!UPLOAD_NAMES.includes(f) && !NEXT_KEY_PATTERN.test(f)) bad(`Parameter 'file' must be one of ${UPLOAD_NAMES.join(', ')} or release-keys/KEYID.pub; got '${f.slice(0, 64)}'`);
}

/** STATE/incoming, made root's and 0700 when missing. */
function incoming(d: UploadDeps, create: boolean): OwnDir | null {
  if (create) fs.mkdirSync(d.sys.at(d.stateDir), { recursive: true, mode: 0o700 });
  return openOwnDir(d.sys, `${d.stateDir}/incoming`, create);
}

/** The upload directory of VERSION (made when CREATE, after removing any other version's upload). */
export function uploadDir(d: UploadDeps, version: string, create: boolean): OwnDir | null {
  const inc = incoming(d, create);
  if (!inc) return null;
  try {
    // One upload at a time: a new version's replaces an unfinished one, so the disk use stays bounded.
    if (create) for (const other of fs.readdirSync(inc.at('.'))) if (other !== version) removeIn(inc, other);
    return openOwnDir(d.sys, inc.at(version), create, `${d.stateDir}/incoming/${version}`);
  } finally {
    inc.close();
  }
}

/** Each file present with its size, in the upload's fixed naming. */
function present(dir: OwnDir): Map<string, number> {
  const out = new Map<string, number>();
  for (const flat of fs.readdirSync(dir.at('.'))) {
    const name = [...UPLOAD_NAMES].find((n) => flatName(n) === flat) ?? (NEXT_KEY_PATTERN.test(flat.replace('+', '/')) ? flat.replace('+', '/') : null);
    const size = name === null ? null : sizeIn(dir, flat);
    if (name !== null && size !== null) out.set(name, size);
  }
  return out;
}

export function putChunk(d: UploadDeps, a: PutArgs): Record<string, unknown> {
  checkVersion(a.version);
  checkFile(a.file);
  if (a.sha256 !== undefined && !/^[0-9a-f]{64}$/.test(a.sha256)) bad("Parameter 'sha256' expected 64 lower-case hex digits");
  const data = decodeBase64(a.data);
  if (data.length > MAX_CHUNK_BYTES) bad(`Parameter 'data' holds ${data.length} bytes; at most ${MAX_CHUNK_BYTES} per chunk`);
  const dir = uploadDir(d, a.version, true)!;
  try {
    const have = present(dir);
    const size = have.get(a.file) ?? 0;
    if (a.offset > size) bad(`Parameter 'offset' is ${a.offset}, past the ${size} bytes of ${a.file} present; resume at ${size}`);
    const others = [...have].reduce((n, [f, s]) => n + (f === a.file ? 0 : s), 0);
    if (others + a.offset + data.length > d.maxBytes) bad(`the release would exceed ${d.maxBytes} bytes (update-max-bytes): ${others} in other files, ${a.offset + data.length} in ${a.file}`);
    const fd = openIn(dir, flatName(a.file), fs.constants.O_RDWR | fs.constants.O_CREAT);
    try {
      // A chunk at an offset already written replaces the rest: a panel may resend from there.
      fs.ftruncateSync(fd, a.offset);
      let n = 0;
      while (n < data.length) n += fs.writeSync(fd, data, n, data.length - n, a.offset + n);
      if (a.sha256 !== undefined) {
        const got = fileSha256(fs, fd);
        if (got !== a.sha256) bad(`${a.file} of ${a.version} has sha256 ${got} with ${a.offset + data.length} bytes, not ${a.sha256}; upload it again from offset 0`);
        fs.fdatasyncSync(fd);
      }
    } finally {
      fs.closeSync(fd);
    }
    return { version: a.version, file: a.file, size: a.offset + data.length };
  } catch (e) {
    if (e instanceof QgaError) throw e;
    return bad(`${a.file} of ${a.version} could not be written (${errCode(e)})`);
  } finally {
    dir.close();
  }
}

/** The manifest uploaded so far, parsed without its signature (apply checks that), or null. */
export function uploadedManifest(dir: OwnDir): ReleaseManifest | null {
  try { return parseManifest(fs.readFileSync(dir.at('manifest.json'))); } catch { return null; }
}

export function releaseStatus(d: UploadDeps, version: string): Record<string, unknown> {
  checkVersion(version);
  const dir = uploadDir(d, version, false);
  if (!dir) return { version, files: [], total: 0, complete: false, 'max-bytes': d.maxBytes };
  try {
    const have = present(dir);
    const m = uploadedManifest(dir);
    const want = new Map<string, number>([['manifest.sig', -1], ...(m?.files ?? []).map((f) => [f.name, f.size] as [string, number])]);
    const files = [...have].map(([file, size]) => ({ file, size, ...(want.get(file) !== undefined && want.get(file)! >= 0 ? { expected: want.get(file) } : {}) }));
    const complete = m !== null && [...want].every(([f, s]) => have.has(f) && (s < 0 || have.get(f) === s));
    return { version, files, total: [...have.values()].reduce((a, b) => a + b, 0), complete, 'max-bytes': d.maxBytes };
  } finally {
    dir.close();
  }
}

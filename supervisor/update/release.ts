// A release: manifest.json (version, every file with its sha256 and size, what it may replace),
// manifest.sig (an Ed25519 signature of manifest.json's exact bytes, with the signing key's id),
// and the files it lists. Shared by the release tool (build/), the worker that checks and applies
// a release, and the panel's client that uploads one; docs/updates.md describes it.

import type * as cryptoModule from 'crypto';

// Loaded on first use, as in heartbeat-packet.ts: the supervisor's start does not compile crypto.
const crypto = (): typeof cryptoModule => require('crypto') as typeof cryptoModule;

export const MANIFEST_FORMAT = 1;
export const VERSION_PATTERN = /^\d{1,6}\.\d{1,6}\.\d{1,6}(-[0-9A-Za-z.]{1,40})?$/;
export const KEY_ID_HEX = 16;
/** What a release may carry, and nothing else: names never come from the panel as paths. */
export const RELEASE_FILES = ['supervisor.js', 'agent.js', 'agent-rare.js', 'ctl.js', 'node', 'init/phoenix-ga.sh', 'init/etc/phoenix-ga.conf',
  'init/systemd/phoenix-ga.service', 'init/sysvinit/inittab.block', 'init/upstart/phoenix-ga.conf'] as const;
/** The files of a version directory without which it cannot run (node comes from the installed version when absent). */
export const REQUIRED_FILES = ['supervisor.js', 'agent.js', 'agent-rare.js', 'ctl.js'];
/** A release's next signing key, installed beside the current ones when it is applied (key rotation). */
export const NEXT_KEY_PATTERN = /^release-keys\/[0-9a-f]{16}\.pub$/;
/** The names an upload may use: the manifest, its signature and the release's files. */
export const UPLOAD_NAMES = ['manifest.json', 'manifest.sig', ...RELEASE_FILES];

export interface ReleaseFile { name: string; sha256: string; size: number }
export interface ReleaseManifest {
  format: 1;
  version: string;
  /** The oldest installed version this release may replace (absent: any). */
  'min-version'?: string;
  /** Signed allowance to replace a newer (or the same) installed version. */
  'allow-downgrade'?: boolean;
  files: ReleaseFile[];
}

export class ReleaseError extends Error {}
const refuse = (why: string): never => { throw new ReleaseError(why); };

/** Orders two versions as semver does (a pre-release sorts before its release); null if either is malformed. */
export function compareVersions(a: string, b: string): number | null {
  if (!VERSION_PATTERN.test(a) || !VERSION_PATTERN.test(b)) return null;
  const split = (v: string) => { const [main, pre] = v.split(/-(.*)/s); return { nums: main.split('.').map(Number), pre: pre ?? null }; };
  const x = split(a), y = split(b);
  for (let i = 0; i < 3; i++) if (x.nums[i] !== y.nums[i]) return x.nums[i] < y.nums[i] ? -1 : 1;
  if (x.pre === y.pre) return 0;
  if (x.pre === null) return 1;
  if (y.pre === null) return -1;
  const p = x.pre.split('.'), q = y.pre.split('.');
  for (let i = 0; i < Math.max(p.length, q.length); i++) {
    if (p[i] === undefined) return -1;
    if (q[i] === undefined) return 1;
    if (p[i] === q[i]) continue;
    const n = /^\d+$/.test(p[i]), m = /^\d+$/.test(q[i]);
    if (n && m) return Number(p[i]) < Number(q[i]) ? -1 : 1;
    if (n !== m) return n ? -1 : 1;
    return p[i] < q[i] ? -1 : 1;
  }
  return 0;
}

/** The id of an Ed25519 public key: the first 16 hex digits of the sha256 of its 32 raw bytes. */
export function keyId(key: cryptoModule.KeyObject): string {
  const raw = key.export({ format: 'der', type: 'spki' }).subarray(-32);
  return crypto().createHash('sha256').update(raw).digest('hex').slice(0, KEY_ID_HEX);
}

/** A public key file's text (PEM, SPKI), checked to be Ed25519. */
export function parsePublicKey(pem: string, where: string): cryptoModule.KeyObject {
  let k: cryptoModule.KeyObject;
  try { k = crypto().createPublicKey(pem); } catch (e) { return refuse(`${where}: not a PEM public key (${(e as Error).message})`); }
  if (k.asymmetricKeyType !== 'ed25519') refuse(`${where}: a ${k.asymmetricKeyType} key; release keys are Ed25519`);
  return k;
}

/** manifest.sig's text: "KEYID BASE64SIGNATURE\n". */
export function signManifest(manifest: Buffer, privateKey: cryptoModule.KeyObject): string {
  const pub = crypto().createPublicKey(privateKey);
  return `${keyId(pub)} ${crypto().sign(null, manifest, privateKey).toString('base64')}\n`;
}

/** Checks the structure of a manifest's JSON, naming the first thing wrong. */
export function parseManifest(bytes: Buffer): ReleaseManifest {
  let m: ReleaseManifest;
  try { m = JSON.parse(bytes.toString('utf8')) as ReleaseManifest; } catch (e) { return refuse(`manifest.json is not JSON (${(e as Error).message}); truncated?`); }
  if (typeof m !== 'object' || m === null) refuse('manifest.json is not an object');
  if (m.format !== MANIFEST_FORMAT) refuse(`manifest.json has format ${JSON.stringify(m.format)}; this agent reads format ${MANIFEST_FORMAT}`);
  if (typeof m.version !== 'string' || !VERSION_PATTERN.test(m.version)) refuse(`manifest.json: version ${JSON.stringify(m.version)} is not MAJOR.MINOR.PATCH[-PRE]`);
  if (m['min-version'] !== undefined && (typeof m['min-version'] !== 'string' || !VERSION_PATTERN.test(m['min-version']))) refuse(`manifest.json: min-version ${JSON.stringify(m['min-version'])} is not a version`);
  if (m['allow-downgrade'] !== undefined && typeof m['allow-downgrade'] !== 'boolean') refuse('manifest.json: allow-downgrade must be true or false');
  if (!Array.isArray(m.files) || m.files.length === 0) refuse('manifest.json lists no files');
  const seen = new Set<string>();
  for (const f of m.files) {
    if (typeof f?.name !== 'string' || !((RELEASE_FILES as readonly string[]).includes(f.name) || NEXT_KEY_PATTERN.test(f.name))) refuse(`manifest.json names a file ${JSON.stringify(f?.name)}; a release carries only ${RELEASE_FILES.join(', ')} and release-keys/KEYID.pub`);
    if (seen.has(f.name)) refuse(`manifest.json lists ${f.name} twice`);
    seen.add(f.name);
    if (typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256)) refuse(`manifest.json: ${f.name} has no sha256 (64 lower-case hex digits)`);
    if (!Number.isSafeInteger(f.size) || f.size < 0) refuse(`manifest.json: ${f.name} has no size`);
  }
  for (const r of REQUIRED_FILES) if (!seen.has(r)) refuse(`manifest.json does not list ${r}, which every release carries`);
  return m;
}

/**
 * The manifest, once its signature is checked against KEYS (id -> key): refused when unsigned,
 * signed by a key not installed, or when the signature does not match the bytes.
 */
export function verifyManifest(manifest: Buffer, sig: Buffer | null, keys: Map<string, cryptoModule.KeyObject>): ReleaseManifest {
  if (sig === null) refuse('the release is not signed: manifest.sig is missing');
  const m = /^([0-9a-f]{16}) ([A-Za-z0-9+/]{86}==)\n?$/.exec(sig!.toString('latin1'));
  if (!m) refuse('manifest.sig is not "KEYID SIGNATURE" (16 hex digits, a base64 Ed25519 signature); truncated?');
  const key = keys.get(m![1]);
  if (!key) refuse(`the release is signed with key ${m![1]}, which is not installed (installed: ${[...keys.keys()].join(', ') || 'none'})`);
  if (!crypto().verify(null, manifest, key!, Buffer.from(m![2], 'base64'))) refuse(`the signature in manifest.sig does not match manifest.json (key ${m![1]}): changed or truncated after signing`);
  return parseManifest(manifest);
}

/** Why a release of VERSION may not replace INSTALLED, or null. */
export function refusesVersion(m: ReleaseManifest, installed: string): string | null {
  const c = compareVersions(m.version, installed);
  if (c === null) return `the installed version ${installed} cannot be compared with ${m.version}`;
  if (c <= 0 && !m['allow-downgrade']) return `release ${m.version} is ${c === 0 ? 'the installed version' : `older than the installed ${installed}`}; only a release signed with allow-downgrade may replace it`;
  const min = m['min-version'];
  if (min !== undefined && (compareVersions(installed, min) ?? -1) < 0) return `release ${m.version} needs at least ${min} installed; ${installed} is`;
  return null;
}

/** The sha256 of a file's content, read in bounded pieces. */
export function fileSha256(fs: typeof import('fs'), fd: number): string {
  const h = crypto().createHash('sha256');
  const buf = Buffer.alloc(1 << 20);
  for (let pos = 0, n = 1; n > 0; pos += n) {
    n = fs.readSync(fd, buf, 0, buf.length, pos);
    h.update(buf.subarray(0, n));
  }
  return h.digest('hex');
}

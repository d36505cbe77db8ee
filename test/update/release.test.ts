// The release format with real Ed25519 keys made by the release tool: a release verifies against
// its installed key and nothing else, and any change to its bytes, a missing or cut signature, or
// a version that would go backwards is refused with the reason.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { compareVersions, keyId, parsePublicKey, refusesVersion, ReleaseError, ReleaseManifest, signManifest, verifyManifest } from '../../supervisor/update/release';
import { ROOT } from '../helpers/agent';
import { scratchDir } from '../helpers/versions';

const dir = scratchDir('pga-release-');
const tool = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'build/release.mjs'), ...args], { encoding: 'utf8' });

const made = tool('keygen', '--out', path.join(dir, 'k'));
const other = tool('keygen', '--out', path.join(dir, 'other'));
const rel = tool('--key', path.join(dir, 'k'), '--out', path.join(dir, 'rel'));
const pub = parsePublicKey(fs.readFileSync(path.join(dir, 'k.pub'), 'utf8'), 'k.pub');
const keys = new Map([[keyId(pub), pub]]);
const manifest = fs.readFileSync(path.join(dir, 'rel/manifest.json'));
const sig = fs.readFileSync(path.join(dir, 'rel/manifest.sig'));

function refused(f: () => unknown, why: RegExp): void {
  try { f(); } catch (e) { assert.instance(e, ReleaseError); assert.match((e as Error).message, why); return; }
  assert.unreachable(`not refused; expected ${why}`);
}

test('keygen writes a private key only root can read and its public key; the release tool signs a build', () => {
  assert.is(made.status, 0, made.stderr);
  assert.is(other.status, 0, other.stderr);
  assert.is(fs.statSync(path.join(dir, 'k')).mode & 0o777, 0o600);
  assert.match(made.stdout, new RegExp(`release-keys/${keyId(pub)}\\.pub`));
  assert.is(rel.status, 0, rel.stderr);
  const m = verifyManifest(manifest, sig, keys);
  for (const f of m.files) {
    const bytes = fs.readFileSync(path.join(dir, 'rel', f.name));
    assert.equal([bytes.length, crypto.createHash('sha256').update(bytes).digest('hex')], [f.size, f.sha256], f.name);
  }
  assert.not.ok(m.files.some((f) => f.name === 'node'), 'no runtime unless --runtime');
  // keygen never overwrites a key.
  assert.is(tool('keygen', '--out', path.join(dir, 'k')).status, 2);
  // A private key others can read is refused.
  fs.copyFileSync(path.join(dir, 'k'), path.join(dir, 'open'));
  fs.chmodSync(path.join(dir, 'open'), 0o644);
  const open = tool('--key', path.join(dir, 'open'), '--out', path.join(dir, 'x'));
  assert.is(open.status, 2);
  assert.match(open.stderr, /readable by group or others/);
});

test('a release signed with a key that is not installed is refused, naming both', () => {
  const o = parsePublicKey(fs.readFileSync(path.join(dir, 'other.pub'), 'utf8'), 'other.pub');
  refused(() => verifyManifest(manifest, sig, new Map([[keyId(o), o]])), new RegExp(`signed with key ${keyId(pub)}, which is not installed \\(installed: ${keyId(o)}\\)`));
  // The other key's signature under this key's id: the bytes do not verify.
  const forged = signManifest(manifest, crypto.createPrivateKey(fs.readFileSync(path.join(dir, 'other')))).replace(/^\w+/, keyId(pub));
  refused(() => verifyManifest(manifest, Buffer.from(forged), keys), /does not match manifest.json/);
  refused(() => verifyManifest(manifest, sig, new Map()), /installed: none/);
});

test('a changed, truncated or unsigned manifest is refused', () => {
  const changed = Buffer.from(manifest.toString().replace(/"size": (\d)/, '"size": 9$1'));
  refused(() => verifyManifest(changed, sig, keys), /does not match manifest.json/);
  refused(() => verifyManifest(manifest.subarray(0, manifest.length - 10), sig, keys), /does not match/);
  refused(() => verifyManifest(manifest, sig.subarray(0, 50), keys), /manifest.sig is not "KEYID SIGNATURE".*truncated/);
  refused(() => verifyManifest(manifest, null, keys), /not signed: manifest.sig is missing/);
  // Signed, but not a manifest this agent can use: each named.
  const signed = (m: unknown) => { const b = Buffer.from(JSON.stringify(m)); return () => verifyManifest(b, Buffer.from(signManifest(b, crypto.createPrivateKey(fs.readFileSync(path.join(dir, 'k'))))), keys); };
  const good = JSON.parse(manifest.toString()) as ReleaseManifest;
  refused(signed({ ...good, files: [...good.files, { name: '../../etc/shadow', sha256: 'a'.repeat(64), size: 1 }] }), /names a file "..\/..\/etc\/shadow"/);
  refused(signed({ ...good, files: good.files.filter((f) => f.name !== 'agent.js') }), /does not list agent.js/);
  // Without it the rare commands would fail in the new version until the next release.
  refused(signed({ ...good, files: good.files.filter((f) => f.name !== 'agent-rare.js') }), /does not list agent-rare.js/);
  refused(signed({ ...good, version: '1.0' }), /version "1.0" is not MAJOR.MINOR.PATCH/);
  refused(signed({ ...good, format: 2 }), /format 2/);
});

test('an older or the same version is refused unless the release is signed with allow-downgrade; min-version is honoured', () => {
  const m = (extra: Partial<ReleaseManifest>): ReleaseManifest => ({ format: 1, version: '1.2.0', files: [], ...extra });
  assert.is(refusesVersion(m({}), '1.1.9'), null);
  assert.is(refusesVersion(m({}), '1.2.0'), 'release 1.2.0 is the installed version; only a release signed with allow-downgrade may replace it');
  assert.is(refusesVersion(m({}), '1.10.0'), 'release 1.2.0 is older than the installed 1.10.0; only a release signed with allow-downgrade may replace it');
  assert.is(refusesVersion(m({ 'allow-downgrade': true }), '1.10.0'), null);
  assert.is(refusesVersion(m({ 'min-version': '1.1.0' }), '1.0.5'), 'release 1.2.0 needs at least 1.1.0 installed; 1.0.5 is');
  assert.is(refusesVersion(m({}), '1.2.0-rc.1'), null, 'a release replaces its pre-release');
});

test('versions order as semver', () => {
  const order = ['0.9.0', '0.10.0-a', '0.10.0-a.2', '0.10.0-a.10', '0.10.0-b', '0.10.0', '1.0.0'];
  for (let i = 0; i < order.length; i++) for (let j = 0; j < order.length; j++) assert.is(compareVersions(order[i], order[j]), Math.sign(i - j), `${order[i]} vs ${order[j]}`);
  assert.is(compareVersions('1.0', '1.0.0'), null);
});

test.run();

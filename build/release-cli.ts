// The release tool: `keygen --out KEYFILE` makes an Ed25519 key pair (KEYFILE private, 0600;
// KEYFILE.pub public, the file to install as /etc/phoenix-ga/release-keys/KEYID.pub), and
// `--key KEYFILE [--out DIR] [--from BUILD] [--runtime NODE] [--min-version V] [--allow-downgrade]
// [--next-key PUBFILE]` writes a signed release of a build tree (default dist/) into DIR.

import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { keyId, parsePublicKey, RELEASE_FILES, ReleaseError, ReleaseManifest, signManifest, VERSION_PATTERN } from '../supervisor/update/release';

const USAGE = `usage: npm run release -- --key KEYFILE [--out DIR] [--from BUILD] [--runtime NODE] [--min-version V] [--allow-downgrade] [--next-key PUBFILE]
       npm run release -- keygen --out KEYFILE`;

class Usage extends Error {}

function options(argv: string[], bools: string[], values: string[]): Map<string, string> {
  const o = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i].replace(/^--/, '');
    if (bools.includes(a)) o.set(a, '');
    else if (values.includes(a) && argv[i + 1] !== undefined) o.set(a, argv[++i]);
    else throw new Usage(`unexpected argument '${argv[i]}'`);
  }
  return o;
}

function keygen(out: string): string[] {
  if (fs.existsSync(out)) throw new Usage(`${out} exists; refusing to overwrite a key`);
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  fs.writeFileSync(out, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  fs.writeFileSync(`${out}.pub`, publicKey.export({ format: 'pem', type: 'spki' }), { mode: 0o644, flag: 'wx' });
  const id = keyId(publicKey);
  return [`key ${id}: private ${out} (keep it off the servers), public ${out}.pub`, `install the public key on servers as /etc/phoenix-ga/release-keys/${id}.pub`];
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function release(o: Map<string, string>, root: string): string[] {
  const keyFile = o.get('key');
  if (!keyFile) throw new Usage('--key KEYFILE is required');
  const st = fs.statSync(keyFile);
  if (st.mode & 0o077) throw new Usage(`${keyFile} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  const key = crypto.createPrivateKey(fs.readFileSync(keyFile));
  if (key.asymmetricKeyType !== 'ed25519') throw new Usage(`${keyFile} is a ${key.asymmetricKeyType} key; release keys are Ed25519 (keygen makes one)`);
  const from = path.resolve(o.get('from') ?? path.join(root, 'dist'));
  const version = execFileSync(process.execPath, [path.join(from, 'supervisor.js'), '--version'], { encoding: 'utf8' }).trim().replace(/^phoenix-ga /, '');
  if (!VERSION_PATTERN.test(version)) throw new Usage(`${from}/supervisor.js says version '${version}', not MAJOR.MINOR.PATCH[-PRE]`);
  const out = path.resolve(o.get('out') ?? path.join(root, 'dist/release', version));
  fs.mkdirSync(out, { recursive: true });
  const files: ReleaseManifest['files'] = [];
  const add = (name: string, src: string) => {
    fs.mkdirSync(path.dirname(path.join(out, name)), { recursive: true });
    fs.copyFileSync(src, path.join(out, name));
    files.push({ name, sha256: sha256(src), size: fs.statSync(src).size });
  };
  for (const name of RELEASE_FILES) {
    if (name === 'node') { if (o.has('runtime')) add(name, o.get('runtime')!); continue; }
    add(name, path.join(from, name));
  }
  if (o.has('next-key')) {
    const next = parsePublicKey(fs.readFileSync(o.get('next-key')!, 'utf8'), o.get('next-key')!);
    add(`release-keys/${keyId(next)}.pub`, o.get('next-key')!);
  }
  const manifest: ReleaseManifest = {
    format: 1, version,
    ...(o.has('min-version') ? { 'min-version': o.get('min-version') } : {}),
    ...(o.has('allow-downgrade') ? { 'allow-downgrade': true } : {}),
    files,
  };
  const bytes = Buffer.from(JSON.stringify(manifest, null, 1) + '\n');
  fs.writeFileSync(path.join(out, 'manifest.json'), bytes);
  fs.writeFileSync(path.join(out, 'manifest.sig'), signManifest(bytes, key));
  const total = files.reduce((n, f) => n + f.size, 0);
  return [`release ${version} in ${out}: ${files.length} files, ${total} bytes, signed with key ${keyId(crypto.createPublicKey(key))}`];
}

export function releaseMain(argv: string[], root: string): number {
  try {
    const lines = argv[0] === 'keygen'
      ? keygen(options(argv.slice(1), [], ['out']).get('out') ?? (() => { throw new Usage('keygen needs --out KEYFILE'); })())
      : release(options(argv, ['allow-downgrade'], ['key', 'out', 'from', 'runtime', 'min-version', 'next-key']), root);
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  } catch (e) {
    process.stderr.write(`release: ${(e as Error).message}\n${e instanceof Usage ? `${USAGE}\n` : ''}`);
    return e instanceof Usage || e instanceof ReleaseError ? 2 : 1;
  }
}

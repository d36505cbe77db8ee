// `npm run package`: the guest packages, each with its own Node runtime, so a server without
// Node runs phoenix-ga; and the panel's tools apart. The tarball brings Node 20 and Node 16 and
// installs Node 20 where the system's glibc allows (2.28: Debian 10, Ubuntu 20.04, RHEL 8 and
// newer), Node 16 elsewhere (glibc 2.17: CentOS 7, Ubuntu 14.04); the .deb brings Node 20.
//   dist/pkg/phoenix-ga-VERSION-linux-x64.tar.gz   unpack anywhere; ./phoenix-ga install [--root DIR]
//   dist/pkg/phoenix-ga_VERSION_amd64.deb         dpkg -i: postinst runs the installer (build/deb.mjs)
//   dist/pkg/phoenix-ga-panel-VERSION.tar.gz      the collector and the client, for the panel's Node
// Run `npm run build` first.
// Options (the upgrade tests package a second version): --dist DIR (bundles built with
// build.mjs --out DIR --version V), --version V, --out DIR, --only deb|tarball|panel,
// --release-keys DIR (the KEYID.pub files installed into /etc/phoenix-ga/release-keys),
// --no-compress (a .deb with uncompressed members: the same content, built in seconds instead of
// a minute of xz on a loaded machine; for tests only).

import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDeb } from './deb.mjs';
import { CURRENT_NODE, LEGACY_NODE, runtime, runtimeLicense, tarballRuntimes } from './runtime.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const opt = (name) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
const pathOpt = (name, dflt) => { const v = opt(name) ?? dflt; return isAbsolute(v) ? v : join(root, v); };
const version = opt('--version') ?? JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const dist = pathOpt('--dist', 'dist');
const out = pathOpt('--out', 'dist/pkg');
const only = opt('--only');
const releaseKeys = opt('--release-keys') && pathOpt('--release-keys');
/** What runs in the guest. The test worker (agent-test.js) and the panel's programs do not ship. */
const GUEST = ['supervisor.js', 'agent.js', 'agent-rare.js', 'ctl.js'];
const PANEL = ['phoenix-ga-receiver.js', 'phoenix-ga-ctl.js'];
for (const f of [...GUEST, ...PANEL, 'phoenix-ga', 'init']) if (!existsSync(join(dist, f))) throw new Error(`${join(dist, f)} is missing: run npm run build first`);
try { execFileSync('strip', ['--version'], { stdio: 'ignore' }); } catch { throw new Error('strip is missing: apt-get install binutils (build/setup.sh does)'); }
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

/** The bundles are run by `node FILE`: no #! line in a package (it would ask for a system node). */
function copyBundle(from, to) {
  writeFileSync(to, readFileSync(from, 'utf8').replace(/^#!.*\n/, ''), { mode: 0o644 });
  chmodSync(to, 0o644);
}

/**
 * A version's files as the installer lays them out: the bundles, the init templates (the
 * launcher template executable, the rest not), and the official Node binary without its symbols.
 */
function stageVersion(dir, nodeVersion) {
  mkdirSync(dir, { recursive: true });
  for (const f of GUEST) copyBundle(join(dist, f), join(dir, f));
  cpSync(join(dist, 'init'), join(dir, 'init'), { recursive: true });
  // The release keys the installed agent will trust (--release-keys DIR of KEYID.pub files, from the release tool's keygen).
  if (releaseKeys) for (const k of readdirSync(releaseKeys).filter((n) => /^[0-9a-f]{16}\.pub$/.test(n))) {
    mkdirSync(join(dir, 'init/release-keys'), { recursive: true });
    copyFileSync(join(releaseKeys, k), join(dir, 'init/release-keys', k));
  }
  for (const f of listFiles(join(dir, 'init'))) chmodSync(f, f.endsWith('/phoenix-ga.sh') ? 0o755 : 0o644);
  copyFileSync(runtime(nodeVersion), join(dir, 'node'));
  // Debugging symbols are 10-12 MB of a 90 MB binary that every VM would carry (stripped as dh_strip does).
  execFileSync('strip', ['--remove-section=.comment', '--remove-section=.note', '--strip-unneeded', join(dir, 'node')]);
  chmodSync(join(dir, 'node'), 0o755);
}

function listFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)]);
}

function tarball(name, fill) {
  const dir = join(out, name);
  fill(dir);
  execFileSync('tar', ['czf', `${name}.tar.gz`, '--owner=0', '--group=0', name], { cwd: out });
  rmSync(dir, { recursive: true });
  return `${name}.tar.gz`;
}

const made = [];
const want = (what) => !only || only === what;
// The tarball: a version directory plus the launcher that prefers ./node, the docs and Node's
// licence. It brings two runtimes: Node 20 (faster to start and smaller in memory) as ./node, and
// Node 16 as ./node-legacy for glibc 2.17; runtimes.json tells the installer what each needs.
if (want('tarball')) made.push(tarball(`phoenix-ga-${version}-linux-x64`, (dir) => {
  stageVersion(dir, CURRENT_NODE);
  copyFileSync(runtime(LEGACY_NODE), join(dir, 'node-legacy'));
  execFileSync('strip', ['--remove-section=.comment', '--remove-section=.note', '--strip-unneeded', join(dir, 'node-legacy')]);
  chmodSync(join(dir, 'node-legacy'), 0o755);
  writeFileSync(join(dir, 'runtimes.json'), JSON.stringify(tarballRuntimes(), null, 1) + '\n');
  copyFileSync(join(dist, 'phoenix-ga'), join(dir, 'phoenix-ga'));
  chmodSync(join(dir, 'phoenix-ga'), 0o755);
  copyFileSync(join(root, 'README.md'), join(dir, 'README.md'));
  mkdirSync(join(dir, 'docs'));
  for (const f of readdirSync(join(root, 'docs'))) if (f.endsWith('.md')) copyFileSync(join(root, 'docs', f), join(dir, 'docs', f));
  copyFileSync(runtimeLicense(CURRENT_NODE), join(dir, 'LICENSE.node'));
  copyFileSync(runtimeLicense(LEGACY_NODE), join(dir, 'LICENSE.node-legacy'));
}));
if (want('deb')) made.push(buildDeb({ root, dist, out, version, nodeVersion: CURRENT_NODE, stageVersion, compress: !process.argv.includes('--no-compress') }));
// The panel's side: the heartbeat collector and the careful client, for a Node the panel has.
if (want('panel')) made.push(tarball(`phoenix-ga-panel-${version}`, (dir) => {
  mkdirSync(dir);
  for (const f of PANEL) copyFileSync(join(dist, f), join(dir, f));
  for (const f of ['heartbeat.md', 'protocol.md', 'commands.md']) copyFileSync(join(root, 'docs', f), join(dir, f));
}));
for (const f of made) console.log(join(out, f));

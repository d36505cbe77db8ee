// `npm run package`: the tarball and the .deb, each with its own Node runtime, so a server without
// Node runs phoenix-ga. The tarball brings Node 16 (glibc 2.17: CentOS 7, Ubuntu 14.04 and newer);
// the .deb brings Node 20 (Debian 10 and Ubuntu 20.04 and newer have glibc 2.28).
//   dist/pkg/phoenix-ga-VERSION-linux-x64.tar.gz   unpack anywhere; ./phoenix-ga install [--root DIR]
//   dist/pkg/phoenix-ga_VERSION_amd64.deb         dpkg -i: postinst runs the installer
// Run `npm run build` first.

import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CURRENT_NODE, LEGACY_NODE, runtime } from './runtime.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const dist = join(root, 'dist');
const out = join(dist, 'pkg');
const FILES = ['supervisor.js', 'agent.js', 'ctl.js', 'phoenix-ga-receiver.js', 'phoenix-ga'];
for (const f of FILES) if (!existsSync(join(dist, f))) throw new Error(`dist/${f} is missing: run npm run build first`);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

/** A package tree: the bundles, init files, the build-tree launcher (which prefers ./node), docs. */
function stage(dir, nodeVersion) {
  mkdirSync(dir, { recursive: true });
  for (const f of FILES) copyFileSync(join(dist, f), join(dir, f));
  chmodSync(join(dir, 'phoenix-ga'), 0o755);
  cpSync(join(dist, 'init'), join(dir, 'init'), { recursive: true });
  copyFileSync(runtime(nodeVersion), join(dir, 'node'));
  chmodSync(join(dir, 'node'), 0o755);
  copyFileSync(join(root, 'README.md'), join(dir, 'README.md'));
  cpSync(join(root, 'docs'), join(dir, 'docs'), { recursive: true });
}

// Tarball.
const tname = `phoenix-ga-${version}-linux-x64`;
stage(join(out, tname), LEGACY_NODE);
execFileSync('tar', ['czf', `${tname}.tar.gz`, '--owner=0', '--group=0', tname], { cwd: out });
rmSync(join(out, tname), { recursive: true });

// .deb: the version's files under /usr/lib/phoenix-ga/VERSION (owned by dpkg); the launcher,
// the init entry and the config are the installer's, run by postinst, so a tarball install and a
// .deb install end up the same. prerm undoes it.
const deb = join(out, 'deb');
const lib = join(deb, 'usr/lib/phoenix-ga', version);
stage(lib, CURRENT_NODE);
rmSync(join(lib, 'README.md'));
rmSync(join(lib, 'docs'), { recursive: true });
mkdirSync(join(deb, 'usr/share/doc/phoenix-ga'), { recursive: true });
copyFileSync(join(root, 'README.md'), join(deb, 'usr/share/doc/phoenix-ga/README.md'));
mkdirSync(join(deb, 'DEBIAN'), { recursive: true });
writeFileSync(join(deb, 'DEBIAN/control'), [
  'Package: phoenix-ga',
  `Version: ${version}`,
  'Architecture: amd64',
  'Maintainer: phoenix-ga developers <dev@phoenix-ga.invalid>',
  'Section: admin',
  'Priority: optional',
  'Conflicts: qemu-guest-agent',
  'Description: guest agent for hosting VDS (qemu-ga compatible)',
  ' Serves the QEMU guest agent protocol on the virtio-serial port, with a supervisor that restarts',
  ' the worker and sends authenticated UDP heartbeats. Brings its own Node runtime.',
  '',
].join('\n'));
const run = `/usr/lib/phoenix-ga/${version}/node /usr/lib/phoenix-ga/${version}/supervisor.js`;
writeFileSync(join(deb, 'DEBIAN/postinst'), `#!/bin/sh\nset -e\ncase "$1" in configure) ${run} install --runtime /usr/lib/phoenix-ga/${version}/node ;; esac\n`, { mode: 0o755 });
writeFileSync(join(deb, 'DEBIAN/prerm'), `#!/bin/sh\nset -e\ncase "$1" in remove|purge) ${run} uninstall || true ;; esac\n`, { mode: 0o755 });
execFileSync('dpkg-deb', ['--root-owner-group', '--build', deb, join(out, `phoenix-ga_${version}_amd64.deb`)], { stdio: 'ignore' });
rmSync(deb, { recursive: true });
for (const f of [`${tname}.tar.gz`, `phoenix-ga_${version}_amd64.deb`]) console.log(`dist/pkg/${f}`);

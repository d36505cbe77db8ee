// Debian's qemu-guest-agent for the VM's tree, so that libvirt can drive qemu-ga and phoenix-ga in
// one image. The packages the tree lacks (qemu-guest-agent and its libraries) are downloaded once
// by the host's apt, resolved against the tree's own dpkg status, and cached per tree key in
// CACHE_DIR/qga-debs-<key>/; installing them into a writable tree is a dpkg -i in a chroot.

import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { CACHE_DIR, mustRun, note, removeTree, requireHost, since } from './host';
import { withLock } from './lock';

const PACKAGES = ['qemu-guest-agent'];

/** The cached .deb files PACKAGES need on top of TREE (a tree from ensureTree, with its .key). */
export async function qemuGaDebs(tree: string): Promise<string[]> {
  requireHost('qemu-ga debs', ['apt-get', 'dpkg']);
  const key = fs.readFileSync(`${tree}.key`, 'utf8').trim();
  const dir = path.join(CACHE_DIR, `qga-debs-${createHash('sha256').update(`${path.resolve(tree)}\0${key}\0${PACKAGES.join(' ')}`).digest('hex').slice(0, 16)}`);
  const list = () => fs.readdirSync(dir).filter((f) => f.endsWith('.deb')).map((f) => path.join(dir, f));
  return withLock('qga-debs', async () => {
    if (fs.existsSync(path.join(dir, 'done'))) return list();
    const t0 = Date.now();
    removeTree(dir);
    fs.mkdirSync(path.join(dir, 'partial'), { recursive: true });
    const apt = (update: boolean) => mustRun('apt-get', [
      ...(update ? ['update', '-qq'] : ['install', '-y', '-qq', '--download-only', '--no-install-recommends', ...PACKAGES]),
      `-o=Dir::State::status=${tree}/var/lib/dpkg/status`, `-o=Dir::Cache::archives=${dir}`, '-o=DPkg::Lock::Timeout=300',
    ], { timeoutMs: 600_000 });
    // The host's package lists may not be there yet (a fresh machine): fetch them once and retry.
    await apt(false).catch(async () => { await apt(true); await apt(false); });
    if (!list().some((f) => path.basename(f).startsWith('qemu-guest-agent_'))) throw new Error(`e2e: apt downloaded no qemu-guest-agent into ${dir}`);
    for (const old of fs.readdirSync(CACHE_DIR)) if (/^qga-debs-/.test(old) && path.join(CACHE_DIR, old) !== dir) removeTree(path.join(CACHE_DIR, old));
    fs.writeFileSync(path.join(dir, 'done'), '');
    note(`qemu-ga: downloaded ${list().map((f) => path.basename(f)).join(' ')} in ${since(t0)}`);
    return list();
  });
}

/** Installs DEBS into the writable tree ROOT (an overlay's merged dir) with dpkg in a chroot; no service starts. */
export async function installDebs(root: string, debs: string[]): Promise<void> {
  const t0 = Date.now();
  const stage = path.join(root, 'tmp/e2e-debs');
  fs.mkdirSync(stage, { recursive: true });
  const names = debs.map((d, i) => { const n = `${i}.deb`; fs.copyFileSync(d, path.join(stage, n)); return `/tmp/e2e-debs/${n}`; });
  const policy = path.join(root, 'usr/sbin/policy-rc.d');
  fs.writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    await mustRun('chroot', [root, 'dpkg', '-i', ...names], { timeoutMs: 300_000 });
  } finally {
    fs.rmSync(policy, { force: true });
    fs.rmSync(stage, { recursive: true, force: true });
  }
  note(`qemu-ga: installed ${debs.length} packages into ${root} in ${since(t0)}`);
}

// Cached Debian bookworm trees for the e2e tests. A tree is built once by build-rootfs.sh, packed
// as CACHE_DIR/<kind>-<key>.tar.zst (key: a hash of build-rootfs.sh, so an edited script
// rebuilds) and extracted to CACHE_DIR/tree-<kind>, which is reused while tree-<kind>.key matches.
// Trees are read-only by convention: nspawn.ts lays an overlay on them, vm-image.ts only reads.

import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { CACHE_DIR, LIB_DIR, mustRun, note, removeTree, requireHost, since } from './host';
import { withLock } from './lock';

export type TreeKind = 'systemd' | 'sysvinit' | 'vm';

const SCRIPT = path.join(LIB_DIR, 'build-rootfs.sh');
// debootstrap of one tree takes 1-2 minutes on a good day; a slow mirror gets much more.
const BUILD_TIMEOUT_MS = 20 * 60_000;

/** The cache key of a kind: any change to build-rootfs.sh changes every key. */
export function treeKey(kind: TreeKind): string {
  return createHash('sha256').update(fs.readFileSync(SCRIPT)).update(`\0${kind}`).digest('hex').slice(0, 16);
}

function readKey(file: string): string | null {
  try { return fs.readFileSync(file, 'utf8').trim(); } catch { return null; }
}

/** The path of an extracted tree of this kind, restored from the tarball or built first when needed. */
export async function ensureTree(kind: TreeKind): Promise<string> {
  if (!['systemd', 'sysvinit', 'vm'].includes(kind)) throw new Error(`e2e: tree kind must be systemd, sysvinit or vm, got ${JSON.stringify(kind)}`);
  requireHost(`rootfs ${kind}`, ['tar', 'zstd', 'flock']);
  const key = treeKey(kind);
  const tree = path.join(CACHE_DIR, `tree-${kind}`);
  const keyFile = `${tree}.key`;
  const tarball = path.join(CACHE_DIR, `${kind}-${key}.tar.zst`);
  if (readKey(keyFile) === key && fs.existsSync(tree)) return tree;
  // The vm tree is the systemd tree plus a kernel: build (or restore) that one first, outside our lock.
  const base = kind === 'vm' && !fs.existsSync(tarball) ? await ensureTree('systemd') : null;
  return withLock(`tree-${kind}`, async () => {
    // Another process may have finished the work while we waited for the lock.
    if (readKey(keyFile) === key && fs.existsSync(tree)) return tree;
    fs.rmSync(keyFile, { force: true });
    if (fs.existsSync(tarball)) {
      const t0 = Date.now();
      removeTree(tree);
      fs.mkdirSync(tree, { recursive: true });
      await mustRun('tar', ['-C', tree, '--numeric-owner', '-I', 'zstd -T0', '-xpf', tarball]);
      note(`rootfs ${kind}: restored ${path.basename(tarball)} in ${since(t0)}`);
    } else {
      await build(kind, tree, tarball, base);
    }
    fs.writeFileSync(`${keyFile}.new`, `${key}\n`);
    fs.renameSync(`${keyFile}.new`, keyFile);
    return tree;
  });
}

async function build(kind: TreeKind, tree: string, tarball: string, base: string | null): Promise<void> {
  requireHost(`rootfs ${kind} build`, ['debootstrap', 'chroot']);
  const work = path.join(CACHE_DIR, `build-${kind}`);
  removeTree(work);
  fs.rmSync(`${work}.log`, { force: true });
  const t0 = Date.now();
  note(`rootfs ${kind}: building with ${SCRIPT} (no cached ${path.basename(tarball)})`);
  await mustRun('bash', [SCRIPT, work, kind, ...(base ? ['--base', base] : [])], { timeoutMs: BUILD_TIMEOUT_MS, stderrTo: 'inherit' });
  note(`rootfs ${kind}: built in ${since(t0)}`);

  const t1 = Date.now();
  await mustRun('tar', ['-C', work, '--numeric-owner', '-I', 'zstd -T0 -3', '-cpf', `${tarball}.new`, '.']);
  fs.renameSync(`${tarball}.new`, tarball);
  note(`rootfs ${kind}: packed ${path.basename(tarball)} (${(fs.statSync(tarball).size / 1e6).toFixed(0)} MB) in ${since(t1)}`);
  // Tarballs of older script versions would only fill the disk.
  for (const f of fs.readdirSync(CACHE_DIR)) {
    if (f.startsWith(`${kind}-`) && f.endsWith('.tar.zst') && f !== path.basename(tarball)) fs.rmSync(path.join(CACHE_DIR, f), { force: true });
  }
  removeTree(tree);
  fs.renameSync(work, tree);
}

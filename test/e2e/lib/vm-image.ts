// The VM's disk: an ext4 image made from the tree with mkfs.ext4 -d, cached per tree key in
// CACHE_DIR/image-<hash>.img. Injected files go into a sparse copy of it with debugfs, which
// needs no loop device or mount, so a cached image plus injection costs seconds, not a mkfs.

import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { CACHE_DIR, mustRun, note, requireHost, run, since } from './host';
import { withLock } from './lock';

export interface Inject {
  /** A regular file on the host. */
  host: string;
  /** Its absolute path in the guest; parent directories are created. */
  guest: string;
  /** Permission bits, default those of the host file. Owner is always root. */
  mode?: number;
}

// Sparse: only the ~650 MB the tree fills takes disk space; the rest is room for tests.
const IMAGE_SIZE = '3G';

async function mkfs(tree: string, img: string): Promise<void> {
  const t0 = Date.now();
  fs.rmSync(img, { force: true });
  await mustRun('truncate', ['-s', IMAGE_SIZE, img]);
  await mustRun('mkfs.ext4', ['-q', '-F', '-L', 'root', '-d', tree, img]);
  note(`vm image: mkfs.ext4 -d ${tree} in ${since(t0)}`);
}

/** The cached image of a tree from ensureTree (it has a .key beside it), else one built in dir. */
async function baseImage(tree: string, dir: string): Promise<string> {
  let key: string;
  try { key = fs.readFileSync(`${tree}.key`, 'utf8').trim(); } catch {
    const img = path.join(dir, 'base.img');
    await mkfs(tree, img);
    return img;
  }
  const name = `image-${createHash('sha256').update(`${path.resolve(tree)}\0${key}`).digest('hex').slice(0, 16)}.img`;
  const img = path.join(CACHE_DIR, name);
  return withLock('vm-image', async () => {
    if (fs.existsSync(img)) return img;
    await mkfs(tree, `${img}.new`);
    fs.renameSync(`${img}.new`, img);
    // Images of older trees would only fill the disk.
    for (const f of fs.readdirSync(CACHE_DIR)) if (/^image-.*\.img$/.test(f) && f !== name) fs.rmSync(path.join(CACHE_DIR, f), { force: true });
    return img;
  });
}

function checkInject(inject: Inject[]): void {
  for (const f of inject) {
    if (!fs.statSync(f.host, { throwIfNoEntry: false })?.isFile()) throw new Error(`e2e: inject: ${f.host} is not a regular file`);
    // debugfs splits its command lines at white space.
    if (!path.isAbsolute(f.guest) || /[\s"'\\]/.test(f.guest + f.host) || f.guest.endsWith('/')) {
      throw new Error(`e2e: inject: paths must be absolute file paths without spaces or quotes, got ${JSON.stringify(f)}`);
    }
  }
}

function debugfsScript(inject: Inject[]): string {
  const lines: string[] = [];
  for (const f of inject) {
    const parts = path.dirname(f.guest).split('/').filter(Boolean);
    // mkdir of an existing directory only prints an error; debugfs goes on with the next line.
    parts.forEach((_, i) => lines.push(`mkdir /${parts.slice(0, i + 1).join('/')}`));
    const base = path.basename(f.guest);
    const mode = (f.mode ?? fs.statSync(f.host).mode) & 0o7777;
    lines.push(`cd /${parts.join('/')}`, `rm ${base}`, `write ${path.resolve(f.host)} ${base}`,
      `sif ${base} mode 0${(0o100000 | mode).toString(8)}`, `sif ${base} uid 0`, `sif ${base} gid 0`);
  }
  return `${lines.join('\n')}\n`;
}

// debugfs reports errors on stderr and still exits 0, so each file is checked afterwards.
async function verify(img: string, f: Inject): Promise<void> {
  const r = await run('debugfs', ['-R', `stat ${f.guest}`, img]);
  const size = /\bSize: (\d+)/.exec(r.stdout)?.[1];
  const mode = /Type: regular\s+Mode:\s+(\d+)/.exec(r.stdout)?.[1];
  const want = ((f.mode ?? fs.statSync(f.host).mode) & 0o7777).toString(8).padStart(4, '0');
  if (Number(size) !== fs.statSync(f.host).size || mode !== want) {
    throw new Error(`e2e: inject ${f.host} -> ${f.guest} failed: image has size ${size} mode ${mode}, want ${fs.statSync(f.host).size} ${want}: ${r.stderr.trim()}`);
  }
}

/** The image to boot: the cached base as is, or a copy in dir with the injected files. */
export async function diskImage(tree: string, dir: string, inject: Inject[]): Promise<string> {
  requireHost('vm image', ['mkfs.ext4', 'debugfs']);
  checkInject(inject);
  const base = await baseImage(tree, dir);
  if (!inject.length) return base;
  const t0 = Date.now();
  const img = path.join(dir, 'disk.img');
  await mustRun('cp', ['--sparse=always', '--reflink=auto', base, img]);
  const script = path.join(dir, 'inject.debugfs');
  fs.writeFileSync(script, debugfsScript(inject));
  await mustRun('debugfs', ['-w', '-f', script, img]);
  for (const f of inject) await verify(img, f);
  note(`vm image: copied and injected ${inject.length} file(s) in ${since(t0)}`);
  return img;
}

/** The newest kernel and its initrd in the tree's /boot (passed to QEMU with -kernel/-initrd). */
export function kernelOf(tree: string): { kernel: string; initrd: string } {
  const boot = path.join(tree, 'boot');
  const versions = (fs.existsSync(boot) ? fs.readdirSync(boot) : [])
    .filter((f) => f.startsWith('vmlinuz-')).map((f) => f.slice('vmlinuz-'.length))
    .filter((v) => fs.existsSync(path.join(boot, `initrd.img-${v}`)))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const v = versions.pop();
  if (!v) throw new Error(`e2e: no vmlinuz-* with its initrd.img-* in ${boot}; use ensureTree('vm')`);
  return { kernel: path.join(boot, `vmlinuz-${v}`), initrd: path.join(boot, `initrd.img-${v}`) };
}

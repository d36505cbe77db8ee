// Which Node runtime an installation gets. The tarball brings two, best first (runtimes.json:
// Node 20, faster and smaller; Node 16 for glibc 2.17), each with the symbol versions it needs
// from the system's libraries, as the packager read them off the binary. The first whose needs
// the target's own libraries meet is installed: the target's, not the host's, since an image is
// often installed from outside with --root.

import * as fs from 'fs';
import * as path from 'path';
import { inRoot } from './tree-files';

export const RUNTIMES_FILE = 'runtimes.json';

export interface RuntimeOffer {
  /** The binary's name in the package directory. */
  file: string;
  version: string;
  /** Library soname -> the symbol versions the binary needs from it (GLIBC_2.28, GLIBCXX_3.4.21, ...). */
  needs: Record<string, string[]>;
}

export interface RuntimeChoice {
  node: string;
  /** What the installer prints about the choice (null when the package brings one runtime). */
  line: string | null;
}

/** Where the dynamic loader finds a soname on the x86-64 systems the packages are built for. */
const LIB_DIRS = ['/lib64', '/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib/x86_64-linux-gnu', '/lib', '/usr/lib'];

function readInRoot(root: string, file: string): Buffer | null {
  // The library itself is usually a symlink (libc.so.6 -> libc-2.17.so): follow it inside ROOT.
  let p = file;
  for (let hops = 0; hops < 16; hops++) {
    const host = inRoot(root, p);
    let st: fs.Stats;
    try { st = fs.lstatSync(host); } catch { return null; }
    if (!st.isSymbolicLink()) return st.isFile() ? fs.readFileSync(host) : null;
    const t = fs.readlinkSync(host);
    p = t.startsWith('/') ? t : path.posix.join(path.posix.dirname(p), t);
  }
  return null;
}

/** The needs of OFFER that the libraries in ROOT do not meet, as "libc.so.6 GLIBC_2.28" (empty: it runs there). */
export function unmetNeeds(root: string, offer: RuntimeOffer): string[] {
  const unmet: string[] = [];
  for (const [soname, versions] of Object.entries(offer.needs)) {
    let lib: Buffer | null = null;
    for (const d of LIB_DIRS) if ((lib = readInRoot(root, `${d}/${soname}`))) break;
    if (!lib) { unmet.push(`${soname} (not found)`); continue; }
    // A library defines each symbol version by name in its string table, NUL-terminated.
    for (const v of versions) if (lib.indexOf(`\0${v}\0`, 0, 'latin1') < 0) unmet.push(`${soname} ${v}`);
  }
  return unmet;
}

/**
 * The runtime to install from package directory DIR into ROOT. Without runtimes.json: DIR/node,
 * or the Node running this installer. With it: the first offer whose needs ROOT meets, else the
 * last (the most compatible) with a warning.
 */
export function chooseRuntime(root: string, dir: string, running: string): RuntimeChoice {
  let offers: RuntimeOffer[] = [];
  try { offers = JSON.parse(fs.readFileSync(path.join(dir, RUNTIMES_FILE), 'utf8')) as RuntimeOffer[]; } catch { /* one runtime */ }
  const valid = Array.isArray(offers) && offers.length > 0
    && offers.every((o) => typeof o?.file === 'string' && typeof o.version === 'string' && typeof o.needs === 'object' && o.needs !== null);
  if (!valid) return { node: fs.existsSync(path.join(dir, 'node')) ? path.join(dir, 'node') : running, line: null };
  const rejected: string[] = [];
  for (const o of offers) {
    const unmet = unmetNeeds(root, o);
    if (unmet.length === 0) {
      const why = rejected.length ? ` (${rejected.join('; ')})` : '';
      return { node: path.join(dir, o.file), line: `  runtime: Node ${o.version}${why}` };
    }
    rejected.push(`not Node ${o.version}: the system lacks ${unmet.slice(0, 3).join(', ')}`);
  }
  const last = offers[offers.length - 1];
  return {
    node: path.join(dir, last.file),
    line: `  runtime: Node ${last.version}, though the system's libraries could not be confirmed (${rejected.join('; ')})`,
  };
}

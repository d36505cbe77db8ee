// Package trees of any version for the upgrade tests: build/build.mjs --out DIR --version V (the
// bundles, init files and launcher), with a Node runtime beside them as the packages have it.

import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, tempDir } from './agent';
import { atExit } from './at-exit';

/** The cached official Node binary of VERSION (build/runtime.mjs). */
export function nodeRuntime(version: string): string {
  return execFileSync(process.execPath, [path.join(ROOT, 'build/runtime.mjs'), version], { encoding: 'utf8' }).trim();
}

/** A temporary directory removed when the test process exits (trees here hold 80-100 MB runtimes). */
export function scratchDir(prefix: string): string {
  const d = tempDir(prefix);
  atExit(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

export function buildVersion(version: string, node: string): string {
  const dir = scratchDir(`pga-v${version}-`);
  execFileSync(process.execPath, [path.join(ROOT, 'build/build.mjs'), '--no-typecheck', '--out', dir, '--version', version], { stdio: 'ignore' });
  for (const f of fs.readdirSync(dir)) if (f.endsWith('.meta.json') || f === 'agent-test.js') fs.rmSync(path.join(dir, f));
  fs.copyFileSync(node, path.join(dir, 'node'));
  fs.chmodSync(path.join(dir, 'node'), 0o755);
  return dir;
}

/**
 * Installs the package tree VERSION_DIR into the root tree ROOT with its own installer, its
 * channel a unix socket at /srv/pga/agent.sock (bind a host directory there), heartbeats every
 * 0.5 s and a 5 s hang timeout.
 */
export function installForContainer(versionDir: string, root: string): void {
  const i = spawnSync(path.join(versionDir, 'phoenix-ga'), ['install', '--root', root], { encoding: 'utf8' });
  if (i.status !== 0) throw new Error(`install into ${root}: exit ${i.status}: ${i.stdout}${i.stderr}`);
  const cfg = path.join(root, 'etc/phoenix-ga/phoenix-ga.conf');
  fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace(/^channel = .*$/m, 'channel = unix:/srv/pga/agent.sock') + 'heartbeat-interval = 0.5\nhang-timeout = 5\n');
}

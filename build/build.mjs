// Builds the bundles into dist/ and checks the invariants the design depends on:
// the supervisor bundle contains nothing from agent/, and each bundle stays within its budget.
// Usage: node build/build.mjs [--no-typecheck]

import * as esbuild from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** Minified size budgets (DESIGN section 7): each 100 KB costs about 10 ms of start-up. */
export const BUNDLES = [
  { entry: 'supervisor/main.ts', out: 'dist/supervisor.js', budget: 34_000, forbid: /^agent\// },
  { entry: 'supervisor/ctl.ts', out: 'dist/ctl.js', budget: 80_000, forbid: /^agent\// },
  { entry: 'agent/main.ts', out: 'dist/agent.js', budget: 200_000, forbid: /^panel\// },
  { entry: 'panel/receiver-cli.ts', out: 'dist/phoenix-ga-receiver.js', budget: 60_000, forbid: /^agent\// },
  { entry: 'panel/ctl-cli.ts', out: 'dist/phoenix-ga-ctl.js', budget: 60_000, forbid: /^agent\// },
];

// The oldest runtime the package supports: Node 16 runs on glibc 2.17 (CentOS 7).
const TARGET = 'node16';

let failed = false;
for (const b of BUNDLES) {
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [b.entry],
    outfile: b.out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: TARGET,
    minify: true,
    legalComments: 'none',
    metafile: true,
    define: { __VERSION__: JSON.stringify(pkg.version) },
    banner: { js: `#!/usr/bin/env node\n/* phoenix-ga ${pkg.version} */` },
    logLevel: 'warning',
  });
  const inputs = Object.keys(result.metafile.inputs);
  const bad = inputs.filter((f) => b.forbid.test(f));
  const external = inputs.filter((f) => f.startsWith('node_modules/'));
  const size = readFileSync(join(root, b.out)).length;
  chmodSync(join(root, b.out), 0o755);
  console.log(`${b.out}: ${size} bytes (budget ${b.budget}), ${inputs.length} source files`);
  if (bad.length) { console.error(`  FAIL: ${b.out} must not contain ${bad.join(', ')}`); failed = true; }
  if (b.out === 'dist/supervisor.js' && external.length) { console.error(`  FAIL: the supervisor has runtime dependencies: ${external.join(', ')}`); failed = true; }
  if (size > b.budget) { console.error(`  FAIL: ${b.out} is ${size} bytes, over its budget of ${b.budget}`); failed = true; }
  writeFileSync(join(root, `${b.out}.meta.json`), JSON.stringify(result.metafile));
}

// The build tree is a package tree: init files beside the bundles, and a launcher that runs them
// on the `node` found on PATH (a package puts its own runtime at dist/node).
cpSync(join(root, 'init'), join(root, 'dist/init'), { recursive: true });
writeFileSync(join(root, 'dist/phoenix-ga'), `#!/bin/sh
# Build-tree launcher: dist/phoenix-ga [run|status|install|uninstall] [options]
D=$(cd "$(dirname "$0")" && pwd)
N="$D/node"; [ -x "$N" ] || N=$(command -v node)
exec /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C "$N" "$D/supervisor.js" "$@"
`, { mode: 0o755 });

if (!process.argv.includes('--no-typecheck')) {
  try {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', root], { stdio: 'inherit' });
  } catch {
    console.error('FAIL: type check');
    failed = true;
  }
}
if (failed) process.exit(1);

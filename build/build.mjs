// Builds the bundles into dist/ and checks the invariants the design depends on: the supervisor
// bundle contains nothing from agent/, the shipped worker contains no test hook, and each bundle
// stays within its budget.
// Usage: node build/build.mjs [--no-typecheck] [--out DIR] [--version V]
//   --out and --version build a second tree (the upgrade tests install two versions).

import * as esbuild from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const opt = (name) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
const version = opt('--version') ?? pkg.version;
const outArg = opt('--out') ?? 'dist';
const out = isAbsolute(outArg) ? outArg : join(root, outArg);

// The fault-injection commands: only the test worker (agent-test.js) has them.
const TEST_HOOKS = 'agent/commands/test-hooks.ts';
/** In the shipped worker, `./test-hooks` is this empty list instead (see agent/commands/table.ts). */
const noTestHooks = {
  name: 'no-test-hooks',
  setup(b) {
    b.onResolve({ filter: /\/test-hooks$/ }, () => ({ path: join(root, 'agent/commands/test-hooks-none.ts') }));
  },
};

/** Minified size budgets: each 100 KB costs about 10 ms of start-up. */
export const BUNDLES = [
  // 34.5 KB while branches land (main was at 33978 of 34000 with the config reload; the worker's
  // path through the version link and the OOM evidence added 481 bytes; updates over the channel 710
  // more, of which the update watch is in ctl.js, loaded only while an update is proven; a clone's
  // new epoch 348 more; the RTC look that wakes an idle worker's clock healer 236 more); to be
  // brought back under 30 KB. The memory reducer's early start (supervisor/memory-reducer.ts: the pair
  // 14.3 instead of 17.4 MiB 5 s after start on Node 20) 336 more; the worker's single malloc arena 21.
  { entry: 'supervisor/main.ts', out: 'supervisor.js', budget: 35_850, forbid: /^agent\// },
  { entry: 'supervisor/ctl.ts', out: 'ctl.js', budget: 80_000, forbid: /^agent\// },
  // The DESIGN target is 200 KB; disk growth (14 KB), the release commands (15 KB) and network
  // transactions (19 KB) and clone detection (9 KB) took it past: about 6 ms of start-up.
  // To be brought back by loading the rare commands from a second file on first use.
  { entry: 'agent/main.ts', out: 'agent.js', budget: 270_000, forbid: /^panel\/|^agent\/commands\/test-hooks\.ts$/, plugins: [noTestHooks], noText: /phoenix-test-|test-crash-count/ },
  { entry: 'agent/main.ts', out: 'agent-test.js', budget: 275_000, forbid: /^panel\//, need: TEST_HOOKS },
  { entry: 'panel/receiver-cli.ts', out: 'phoenix-ga-receiver.js', budget: 60_000, forbid: /^agent\// },
  { entry: 'panel/ctl-cli.ts', out: 'phoenix-ga-ctl.js', budget: 60_000, forbid: /^agent\// },
];

// The oldest runtime the package supports: Node 16 runs on glibc 2.17 (CentOS 7).
const TARGET = 'node16.20';

let failed = false;
const fail = (msg) => { console.error(`  FAIL: ${msg}`); failed = true; };
for (const b of BUNDLES) {
  const file = join(out, b.out);
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [b.entry],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: TARGET,
    minify: true,
    legalComments: 'none',
    metafile: true,
    plugins: b.plugins ?? [],
    define: { __VERSION__: JSON.stringify(version) },
    banner: { js: `#!/usr/bin/env node\n/* phoenix-ga ${version} */` },
    logLevel: 'warning',
  });
  const inputs = Object.keys(result.metafile.inputs);
  const bad = inputs.filter((f) => b.forbid.test(f));
  const external = inputs.filter((f) => f.startsWith('node_modules/'));
  const text = readFileSync(file, 'latin1');
  chmodSync(file, 0o755);
  console.log(`dist/${b.out}: ${text.length} bytes (budget ${b.budget}), ${inputs.length} source files`);
  if (bad.length) fail(`${b.out} must not contain ${bad.join(', ')}`);
  const hook = b.noText && text.match(b.noText);
  if (hook) fail(`${b.out} contains '${hook[0]}': a test hook got into the shipped worker`);
  if (b.need && !inputs.includes(b.need)) fail(`${b.out} lacks ${b.need}`);
  if (b.out === 'supervisor.js' && external.length) fail(`the supervisor has runtime dependencies: ${external.join(', ')}`);
  if (text.length > b.budget) fail(`${b.out} is ${text.length} bytes, over its budget of ${b.budget}`);
  writeFileSync(`${file}.meta.json`, JSON.stringify(result.metafile));
}

// The build tree is a package tree: init files beside the bundles, and a launcher that runs them
// on the `node` found on PATH (a package puts its own runtime at dist/node).
cpSync(join(root, 'init'), join(out, 'init'), { recursive: true });
writeFileSync(join(out, 'phoenix-ga'), `#!/bin/sh
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

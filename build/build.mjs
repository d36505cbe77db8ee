// Builds the bundles into dist/ and checks the invariants the design depends on: the supervisor
// bundle contains nothing from agent/, the shipped worker contains no test hook, and each bundle
// stays within its budget.
// Usage: node build/build.mjs [--no-typecheck] [--out DIR] [--version V]
//   --out and --version build a second tree (the upgrade tests install two versions).

import * as esbuild from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
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

/**
 * In the workers, each command's `description` is '': it is read only by the command reference
 * (build/docs-entry.ts, bundled apart), and its text is about 10 KB of agent.js. A description that
 * is not one string or template literal fails the build rather than keep its text.
 */
const DESCRIPTION = /\bdescription:(\s*)('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`)(\s*[,}\n])/g;
const noDescriptions = {
  name: 'no-descriptions',
  setup(b) {
    b.onLoad({ filter: /\/agent\/commands\/[^/]+\.ts$/ }, (a) => {
      const source = readFileSync(a.path, 'utf8');
      // Every `description:` but the type's own (`description: string;` in command.ts).
      const all = source.match(/\bdescription:(?!\s*string;)/g)?.length ?? 0;
      let stripped = 0;
      const contents = source.replace(DESCRIPTION, (_m, space, _text, after) => { stripped++; return `description:${space}''${after}`; });
      if (stripped !== all) throw new Error(`${relative(root, a.path)}: ${all - stripped} description(s) not one string or template literal`);
      return { contents, loader: 'ts' };
    });
  },
};

/** Minified size budgets: each 100 KB costs about 10 ms of start-up. */
export const BUNDLES = [
  // 34.5 KB while branches land (main was at 33978 of 34000 with the config reload; the worker's
  // path through the version link and the OOM evidence added 481 bytes; updates over the channel 710
  // more, of which the update watch is in ctl.js, loaded only while an update is proven; a clone's
  // new epoch 348 more; the RTC look that wakes an idle worker's clock healer 236 more); to be
  // brought back under 30 KB. The memory reducer's early start (supervisor/memory-reducer.ts: the pair
  // 14.3 instead of 17.4 MiB 5 s after start on Node 20) 336 more; the worker's single malloc arena 21;
  // the first heartbeat sent before the post-spawn bookkeeping 72. The worker's code-cache loader (its
  // source is passed with node -e) 1.6 KB, about 0.2 ms here, for 90-130 M fewer instructions at each
  // warm worker start; its wait while file systems are frozen 120. A worker line logged at its own
  // level 46. Node 16's own compacting collections 4 s after start (its V8 has no reducer delay flag:
  // the pair 16.3 instead of 19.6 MiB 5 s after start) 245, and 45 more beside the log's and the
  // worker's shared collection. The machine's OOM-kill count taken at each spawn, so that a kill -9
  // restarts without reading the whole kernel log first (8-25 ms), 98. The beat sent through the UDP
  // handle, not dgram.send (0.3 ms less per 10 s tick), 414. flock(1) run without an environment
  // (no locale loaded: 1.2 ms less at each start), 7. The port reopened after a worker died between
  // reading the port and recording what it read, or while writing replies (a host that matches
  // replies by order would otherwise wait forever or read each reply as the next request's), 505.
  // The worker's IPC channel opened by its loader while V8's flags are at their defaults (V8 then
  // takes Node's code cache for child_process, net and the streams: about 10 ms less at each worker
  // start and restart), 816. The code cache set aside after a worker dies of a fault signal or
  // crashes before ready (a cache damaged on disk past its header killed every worker start, for
  // good), 302; a cache file over 16 MiB not read (it was read whole and kept), 37. Its own state
  // files read without following a symlink, never a FIFO (it hung before it listened) or /dev/zero
  // (read to 1 GB), and the log opened O_NONBLOCK (a FIFO without a reader hung it), 247.
  { entry: 'supervisor/main.ts', out: 'supervisor.js', budget: 40_550, forbid: /^agent\// },
  { entry: 'supervisor/ctl.ts', out: 'ctl.js', budget: 80_000, forbid: /^agent\// },
  // The DESIGN target is 200 KB: the commands beyond qemu-ga's and network persistence (77 KB)
  // are in agent-rare.js, loaded at their first call.
  { entry: 'agent/main.ts', out: 'agent.js', budget: 200_000, forbid: /^panel\/|^agent\/commands\/test-hooks\.ts$/, plugins: [noTestHooks, noDescriptions], noText: /phoenix-test-|test-crash-count/ },
  { entry: 'agent/main.ts', out: 'agent-test.js', budget: 205_000, forbid: /^panel\//, plugins: [noDescriptions], need: TEST_HOOKS },
  // Loaded by agent/rare/load.ts at the first call of a rare command; takes every module the main
  // bundle also has from it (agent/rare/shared.ts), so a class is one class in both.
  { entry: 'agent/rare/entry.ts', out: 'agent-rare.js', budget: 85_000, forbid: /^panel\/|^agent\/commands\/test-hooks\.ts$/, rare: true },
  { entry: 'panel/receiver-cli.ts', out: 'phoenix-ga-receiver.js', budget: 60_000, forbid: /^agent\// },
  { entry: 'panel/ctl-cli.ts', out: 'phoenix-ga-ctl.js', budget: 60_000, forbid: /^agent\// },
];

// The oldest runtime the package supports: Node 16 runs on glibc 2.17 (CentOS 7).
const TARGET = 'node16.20';

const SHARED = 'agent/rare/shared.ts';
/** In agent-rare.js, a module of the main bundle is the main bundle's, passed in as `shared`. */
const fromMain = (mainInputs, taken) => ({
  name: 'from-main',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (a) => {
      const base = join(a.resolveDir, a.path);
      const file = [`${base}.ts`, join(base, 'index.ts'), base].find((f) => existsSync(f) && statSync(f).isFile());
      const rel = file && relative(root, file);
      if (!rel || !mainInputs.has(rel)) return undefined;
      taken.add(rel);
      return { path: rel, namespace: 'main-bundle' };
    });
    b.onLoad({ filter: /.*/, namespace: 'main-bundle' }, (a) => ({ contents: `module.exports = shared[${JSON.stringify(a.path)}];`, loader: 'js' }));
  },
});

let failed = false;
let mainInputs = new Set();
const fail = (msg) => { console.error(`  FAIL: ${msg}`); failed = true; };
for (const b of BUNDLES) {
  const file = join(out, b.out);
  const taken = new Set();
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [b.entry],
    outfile: file,
    bundle: true,
    platform: 'node',
    // agent-rare.js is one function of the main bundle's modules, returning the rare handlers.
    format: b.rare ? 'iife' : 'cjs',
    ...(b.rare ? { globalName: 'rare', footer: { js: 'return rare};' } } : {}),
    target: TARGET,
    minify: true,
    legalComments: 'none',
    metafile: true,
    plugins: b.rare ? [fromMain(mainInputs, taken)] : b.plugins ?? [],
    define: { __VERSION__: JSON.stringify(version) },
    banner: { js: b.rare ? `/* phoenix-ga ${version} */\nmodule.exports=function(shared){` : `#!/usr/bin/env node\n/* phoenix-ga ${version} */` },
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
  // Budgets hold at the package's own version: a longer version string (a test build's 0.1.1~e2e)
  // is not counted against them.
  const counted = text.length - (text.split(version).length - 1) * Math.max(0, version.length - pkg.version.length);
  if (counted > b.budget) fail(`${b.out} is ${counted} bytes at version ${pkg.version}, over its budget of ${b.budget}`);
  if (b.out === 'agent.js') mainInputs = new Set(inputs);
  if (b.rare) {
    const both = inputs.filter((f) => mainInputs.has(f));
    if (both.length) fail(`${b.out} and agent.js both contain ${both.join(', ')}`);
    const listed = readFileSync(join(root, SHARED), 'utf8');
    const unlisted = [...taken].filter((f) => !listed.includes(`'${f}'`));
    if (unlisted.length) fail(`${b.out} needs ${unlisted.join(', ')} from agent.js: add them to ${SHARED}`);
    // A listed module is kept whole in agent.js: only what agent-rare.js takes.
    const unused = [...listed.matchAll(/^ {2}'([^']+)':/gm)].map((m) => m[1]).filter((f) => !taken.has(f));
    if (unused.length) fail(`${SHARED} lists ${unused.join(', ')}, which ${b.out} does not take`);
  }
  writeFileSync(`${file}.meta.json`, JSON.stringify(result.metafile));
}

// The build tree is a package tree: init files beside the bundles, and a launcher that runs them
// on the `node` found on PATH (a package puts its own runtime at dist/node, and the tarball a
// second one, node-legacy, for systems whose glibc is too old for the first).
cpSync(join(root, 'init'), join(out, 'init'), { recursive: true });
writeFileSync(join(out, 'phoenix-ga'), `#!/bin/sh
# Build-tree launcher: dist/phoenix-ga [run|status|install|uninstall] [options]
D=$(cd "$(dirname "$0")" && pwd)
N="$D/node"; [ -x "$N" ] || N=$(command -v node)
if [ -x "$D/node-legacy" ] && ! "$N" -e 0 >/dev/null 2>&1; then N="$D/node-legacy"; fi
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

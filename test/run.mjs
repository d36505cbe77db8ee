// Test runner: bundles test/**/*.test.ts with esbuild (sources are imported as TypeScript), runs
// the uvu suites, and closes with one line "N passed, N failed" counted from uvu's own per-suite
// results. Exits non-zero when a test failed or when no test ran.
// Usage: node test/run.mjs [file-pattern]   (e.g. node test/run.mjs protocol)

import * as esbuild from 'esbuild';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// The tests run on Node 20 or newer; the older runtimes the product supports (Node 16) are
// checked on the built bundles by test/runtimes.test.ts.
if (Number(process.versions.node.split('.')[0]) < 20) {
  console.error(`test/run.mjs: the tests need Node 20 or newer (this is ${process.version}); Node 16 is tested through the built bundles by test/runtimes.test.ts`);
  process.exit(2);
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, '.test-out');
const pattern = process.argv[2] ? new RegExp(process.argv[2]) : null;

function find(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? find(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}

const files = find(join(root, 'test')).filter((f) => !pattern || pattern.test(relative(root, f))).sort();
rmSync(out, { recursive: true, force: true });
await esbuild.build({
  absWorkingDir: root,
  entryPoints: files,
  outdir: out,
  outbase: root,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node16',
  sourcemap: 'inline',
  packages: 'external',
  define: { __VERSION__: '"test"' },
  logLevel: 'warning',
});
process.setSourceMapsEnabled?.(true);

const require = createRequire(import.meta.url);
globalThis.UVU_DEFER = 1;
const uvu = require('uvu');
files.forEach((f, i) => {
  globalThis.UVU_QUEUE.push([relative(root, f)]);
  globalThis.UVU_INDEX = i;
  require(join(out, relative(root, f)).replace(/\.ts$/, '.js'));
});

let total = 0, passed = 0, skipped = 0;
// Seconds per test file: where a run's time goes, for keeping CI within its budget.
const seconds = new Map();
for (const group of globalThis.UVU_QUEUE) {
  const file = group[0];
  for (let i = 1; i < group.length; i++) {
    const run = group[i];
    group[i] = async () => {
      const t0 = performance.now();
      const r = await run();
      seconds.set(file, (seconds.get(file) ?? 0) + (performance.now() - t0) / 1000);
      total += r[3]; passed += r[1]; skipped += r[2];
      return r;
    };
  }
}
// A test awaiting a promise that never settles empties the event loop and uvu stops early
// ("Exiting early before testing is finished"): still close with the line, as a failure.
let finished = false;
process.on('exit', () => {
  if (finished) return;
  console.log(`${passed} passed, ${total - passed + 1} failed (the run stopped early: a test waited on something that never happened)`);
  process.exitCode = 1;
});
await uvu.exec(false);
finished = true;
// A suite whose before-hook throws, or a test that throws a non-Error, makes uvu count (0 / N)
// and still exit 0 (uvu issues #60, #80, #191): total - passed counts those as failed.
const failed = total - passed;
const slowest = [...seconds].sort((a, b) => b[1] - a[1]).slice(0, 12);
if (slowest.length) console.log(`slowest files: ${slowest.map(([f, t]) => `${relative('test', f)} ${t.toFixed(0)} s`).join(', ')}`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || total === 0 ? 1 : 0);

// One process 'exit' listener for all test files. The runner bundles each test file on its own,
// so a helper's module-level process.on('exit') was added once per file that imports it: past ten
// files, Node warned "MaxListenersExceededWarning: ... exit listeners added to [process]".

type Registry = Set<() => void>;
const KEY = Symbol.for('phoenix-ga.test.at-exit');

/** Runs FN (synchronously) when the test process exits; returns its removal. */
export function atExit(fn: () => void): () => void {
  const g = globalThis as unknown as Record<symbol, Registry | undefined>;
  let registry = g[KEY];
  if (!registry) {
    const r: Registry = new Set();
    g[KEY] = registry = r;
    process.on('exit', () => {
      for (const f of [...r].reverse()) {
        try { f(); } catch { /* best effort: the next one may still succeed */ }
      }
    });
  }
  registry.add(fn);
  return () => { registry!.delete(fn); };
}

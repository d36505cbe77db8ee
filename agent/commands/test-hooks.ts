// Fault injection for the chaos tests, registered only when the supervisor runs with
// --test-commands (never from the config file, never in a shipped unit). They cause real faults:
// a blocked event loop, real heap growth to V8's limit, real off-heap memory for the kernel's OOM
// killer, a real crash.

import type * as childProcess from 'child_process';
import fs = require('fs');
import { command } from './command';
import { int, object, oneOf, optional, str } from './schema';

const held: unknown[] = [];

export const testCommands = [
  command({
    name: 'phoenix-test-block',
    description: 'Test only: block the event loop for ms milliseconds.',
    args: object({ ms: int({ min: 0, max: 600_000 }) }),
    run: (a) => {
      const end = Date.now() + a.ms;
      while (Date.now() < end) { /* busy */ }
      return {};
    },
  }),
  command({
    name: 'phoenix-test-alloc',
    description: 'Test only: allocate and keep mb MiB, on the V8 heap or off it (Buffer).',
    args: object({ mb: int({ min: 1, max: 65536 }), where: oneOf(['heap', 'buffer'] as const) }),
    run: (a) => {
      for (let i = 0; i < a.mb; i++) {
        if (a.where === 'buffer') held.push(Buffer.alloc(1 << 20, 1));
        else held.push(Array.from({ length: 1 << 15 }, (_, j) => ({ j, s: `x${j}` })));
      }
      return { held_mb: held.length };
    },
  }),
  command({
    name: 'phoenix-test-spawn',
    description: 'Test only: start /bin/sleep for seconds s as a child of the worker; returns its pid.',
    args: object({ s: int({ min: 1, max: 3600 }) }),
    run: (a) => {
      // Loaded on use: child_process costs the worker's start-up ~5 ms.
      const { spawn } = require('child_process') as typeof childProcess;
      const c = spawn('/bin/sleep', [String(a.s)], { stdio: 'ignore' });
      c.on('error', () => { /* reported by the missing pid */ });
      return { pid: c.pid ?? null };
    },
  }),
  command({
    name: 'phoenix-test-mutate',
    description: 'Test only: a mutating command whose every run appends one line to `file` (counts runs under the journal), after `ms` milliseconds.',
    args: object({ file: str({ maxLength: 4096 }), tag: str({ maxLength: 64 }), ms: optional(int({ min: 0, max: 600_000 })) }),
    mutating: true,
    run: async (a) => {
      if (a.ms) await new Promise((r) => setTimeout(r, a.ms));
      fs.appendFileSync(a.file, `${a.tag}\n`);
      return { ran: a.tag };
    },
  }),
  command({
    name: 'phoenix-test-exit',
    description: 'Test only: exit the worker with this code.',
    args: object({ code: int({ min: 0, max: 255 }) }),
    run: (a) => process.exit(a.code),
  }),
];

/**
 * Tests only: a real SIGKILL of this worker at one journal step of one command, TIMES times in
 * all (counted in STATE_DIR/test-crash-count, so a restarted worker does not crash forever).
 */
export function crashPoint(spec: string | null, stateDir: string): ((step: string, cmd: string) => void) | undefined {
  if (!spec) return undefined;
  const [at, cmd, times = '1'] = spec.split(':');
  const file = `${stateDir}/test-crash-count`;
  return (step, name) => {
    if (step !== at || name !== cmd) return;
    let n = 0;
    try { n = Number(fs.readFileSync(file, 'utf8')); } catch { /* none yet */ }
    if (n >= Number(times)) return;
    // The state directory is made by the identity check, which may not have run yet (after ready).
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, String(n + 1));
    process.kill(process.pid, 'SIGKILL');
  };
}

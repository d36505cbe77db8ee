// Fault injection for the chaos tests, registered only when the supervisor runs with
// --test-commands (never from the config file, never in a shipped unit). They cause real faults:
// a blocked event loop, real heap growth to V8's limit, real off-heap memory for the kernel's OOM
// killer, a real crash.

import { command } from './command';
import { int, object, oneOf } from './schema';

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
    name: 'phoenix-test-exit',
    description: 'Test only: exit the worker with this code.',
    args: object({ code: int({ min: 0, max: 255 }) }),
    run: (a) => process.exit(a.code),
  }),
];

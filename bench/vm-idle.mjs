// Idle on a real virtio-serial port: phoenix-ga and Debian's qemu-ga side by side in one QEMU VM
// (TCG), each on its own port (test/e2e/lib/vm-idle.ts). With the host side of both ports closed
// (what Proxmox leaves between commands), in the first minute after the host left and from the
// second minute on, and with an idle host connected: every thread's wake-ups (voluntary context
// switches) and CPU, counted inside the guest. And the time from a host connecting to its first
// reply, a few seconds after the last host left and once it has been gone over a minute.
// Guest CPU under TCG is emulated (10-20x a native CPU, more on a loaded host): compare the two
// agents, not these milliseconds with the other parts. Needs root and the e2e tools (docs/e2e.md).
// Usage: npm run build && sudo node bench/vm-idle.mjs [--samples 5] [--json FILE]

import * as esbuild from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { arg, root } from './lib.mjs';

const say = (m) => process.stderr.write(`vm-idle: ${m}\n`);

// The e2e library finds the project root by its bundle lying under .test-out/.
const out = join(root, '.test-out/bench/vm-idle.cjs');
mkdirSync(join(root, '.test-out/bench'), { recursive: true });
await esbuild.build({
  stdin: { contents: "export { startAgentPair, measureIdle, formatIdle } from './test/e2e/lib/vm-idle';", resolveDir: root, loader: 'ts' },
  bundle: true, platform: 'node', format: 'cjs', target: 'node16', outfile: out, packages: 'external', logLevel: 'warning',
});
const { startAgentPair, measureIdle, formatIdle } = (await import(out)).default;

const pair = await startAgentPair();
let fig;
try {
  fig = await measureIdle(pair, {
    gone: [{ fromS: 20, seconds: 40 }, { fromS: 65, seconds: 60 }],
    longGoneS: 128,
    samples: Number(arg('samples', 5)),
    connectedS: 60,
  });
} finally {
  await pair.stop();
}
for (const line of formatIdle(fig)) say(line);
for (const [state, w] of [...fig.gone.map((g) => [`host gone ${g.fromS} s+`, g]), ['idle host connected', fig.connected]]) {
  for (const [name, p] of Object.entries(w.procs)) {
    const busy = p.threads.filter((t) => t.wakeupsPerS > 0.01 || t.cpuMsPerS > 0.05);
    say(`${state}: ${name} threads: ${busy.map((t) => `${t.comm}/${t.tid} ${t.wakeupsPerS.toFixed(2)}/s ${t.cpuMsPerS.toFixed(2)} ms/s`).join(', ') || 'none woke'}`);
  }
}
if (arg('json')) writeFileSync(arg('json'), JSON.stringify(fig, null, 1));

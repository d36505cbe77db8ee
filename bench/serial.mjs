// The serial channel with the host side gone, unsignalled: a pseudo-terminal made by socat stands
// in for the virtio port; once the host's connection closes, socat exits and the port reads EOF /
// hangs up at once, as a virtio port with no host does. A terminal does not signal a host's coming
// (SIGIO is for data only), so the worker keeps its fallback, a poll every 1-2 s: this measures
// that fallback (also a virtio port without perl). Counts the worker's and the supervisor's
// wake-ups (voluntary context switches of every thread) and CPU in the first minute after the host
// left and from the second minute on. The signalled port, and the time from a host connecting to
// its first reply, need a real virtio port in a VM: bench/vm-idle.mjs (a pty cannot reconnect).
// Usage: npm run build && node bench/serial.mjs [--window 60] [--node PATH] [--json FILE]

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, env, launcherEnv, loadAverage, NODE, now, root, sleep, stop, threads, workerPid } from './lib.mjs';

const WINDOW_S = Number(arg('window', 60));
const say = (m) => process.stderr.write(`serial: ${m}\n`);

if (spawnSync('socat', ['-V'], { stdio: 'ignore' }).status !== 0) {
  say('socat is not installed (apt-get install socat): no serial figures');
  if (arg('json')) writeFileSync(arg('json'), JSON.stringify({ skipped: 'no socat' }));
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'bench-serial-'));
const port = join(dir, 'port');
const hostSock = join(dir, 'host.sock');
const bridge = spawn('socat', [`PTY,link=${port},raw,echo=0`, `UNIX-LISTEN:${hostSock}`], { stdio: 'ignore' });
while (!existsSync(port) || !existsSync(hostSock)) await sleep(20);
const sup = spawn(NODE, [join(root, 'dist/supervisor.js'), '--channel', `serial:${port}`, '--run-dir', `${dir}/run`, '--log-file', `${dir}/log`], { stdio: 'ignore', env: { ...env, ...launcherEnv } });
let wpid;
while (!(wpid = workerPid(dir))) await sleep(20);
const host = await new Promise((res, rej) => { const s = connect(hostSock); s.once('connect', () => res(s)); s.once('error', rej); });
await new Promise((res) => { host.once('data', res); host.write('{"execute":"guest-ping"}'); });
// Past the start-up work (V8's memory reducer, the first statistics sample), as in core.mjs.
await sleep(20_000);
// The host goes away: socat exits and closes the pty's master side.
host.destroy();
const leftAt = now();
await sleep(2000);

async function window(fromS, seconds) {
  await sleep(Math.max(0, fromS * 1000 - (now() - leftAt)));
  const a = { w: threads(wpid), s: threads(sup.pid) };
  const t0 = now();
  await sleep(seconds * 1000);
  const secs = (now() - t0) / 1000;
  const b = { w: threads(wpid), s: threads(sup.pid) };
  return {
    from: fromS, seconds: secs,
    worker: { wakeupsPerS: (b.w.wakeups - a.w.wakeups) / secs, cpuMsPerS: (b.w.cpuMs - a.w.cpuMs) / secs },
    supervisor: { wakeupsPerS: (b.s.wakeups - a.s.wakeups) / secs, cpuMsPerS: (b.s.cpuMs - a.s.cpuMs) / secs },
  };
}

const first = await window(2, Math.min(40, WINDOW_S));
say(`host gone, first minute: worker ${first.worker.wakeupsPerS.toFixed(2)} wake-ups/s, supervisor ${first.supervisor.wakeupsPerS.toFixed(2)}`);
const later = await window(65, WINDOW_S);
say(`host gone for over a minute (fallback poll): worker ${later.worker.wakeupsPerS.toFixed(2)} wake-ups/s (${later.worker.cpuMsPerS.toFixed(3)} ms CPU/s), supervisor ${later.supervisor.wakeupsPerS.toFixed(2)}`);
const sameWorker = workerPid(dir) === wpid;
await stop(sup);
bridge.kill();
const res = { loadAverage: loadAverage(), first, later, sameWorker };
if (arg('json')) writeFileSync(arg('json'), JSON.stringify(res, null, 1));

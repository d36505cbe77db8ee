// phoenix-ga's idle cost on a real virtio-serial port, beside Debian's qemu-ga in the same VM
// (lib/vm-idle.ts): wake-ups and CPU of every thread with the host side of the port closed (what
// Proxmox leaves between commands) and with an idle host connected, and how long a host that
// connects waits for its first reply. With no host, the port reports hang-up on every poll: the
// worker arms the port for the driver's SIGIO (host open/close) and otherwise looks only every
// 45 s, where the fallback without SIGIO looks every 1-2 s. The bounds below fail on that fallback
// (about one wake-up a second, replies up to 2 s late), with room for a loaded machine.
// bench/vm-idle.mjs prints the same, longer.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { note, since } from './lib/host';
import { hostConnect, idleWindow } from './lib/idle-figures';
import { formatIdle, measureIdle, startAgentPair } from './lib/vm-idle';

/** A busy poll wakes hundreds of times a second; the supervisor's design is 0.1. */
const MAX_WAKEUPS_PER_S = 2;
/** The worker with the host gone, signalled by the port: 0.1 or less; polling every 1 s it is 1. */
const MAX_GONE_WORKER_WAKEUPS_PER_S = 0.4;
/** Signalled, the reply waits for no poll: under TCG about 0.1 s; polling, up to 1-2 s. */
const MAX_FIRST_REPLY_MS = 1000;
/** O_ASYNC in /proc/PID/fdinfo flags (octal). */
const O_ASYNC = 0o20000;

const S = suite('idle in a VM: phoenix-ga beside qemu-ga on virtio-serial ports');

S('no wake-ups with the host gone (the port signals its coming), none with it idle, and a host that connects is answered within 1 s', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const t0 = Date.now();
  const pair = await startAgentPair();
  try {
    // Polling, the longest wait (2 s) starts once the host has been gone a minute: a reply after 62 s.
    const fig = await measureIdle(pair, { gone: [{ fromS: 20, seconds: 38 }], longGoneS: 62, samples: 3, connectedS: 30 });
    for (const line of formatIdle(fig)) note(`vm idle: ${line}`);
    assert.ok(fig.sameProcesses, 'no agent process was replaced during the measurement');
    const flags = /flags:\s+(\d+)/.exec((await pair.vm.shell(`cat /proc/${pair.pids.worker}/fdinfo/4`)).out);
    assert.ok(flags && parseInt(flags[1], 8) & O_ASYNC, `the worker armed its port (fd 4) for SIGIO: ${flags?.[0]}`);
    const goneWorker = fig.gone[0].procs.worker.wakeupsPerS;
    assert.ok(goneWorker < MAX_GONE_WORKER_WAKEUPS_PER_S, `host gone: phoenix-ga worker woke ${goneWorker.toFixed(2)} times/s (bound ${MAX_GONE_WORKER_WAKEUPS_PER_S})`);
    for (const [state, w] of [['host gone', fig.gone[0]], ['idle host connected', fig.connected]] as const) {
      for (const p of ['supervisor', 'worker'] as const) {
        assert.ok(w.procs[p].wakeupsPerS < MAX_WAKEUPS_PER_S, `${state}: phoenix-ga ${p} woke ${w.procs[p].wakeupsPerS.toFixed(2)} times/s (bound ${MAX_WAKEUPS_PER_S})`);
      }
    }
    const replies = [...fig.replies.phoenix, fig.replies.phoenixLongGone!];
    for (const r of replies) assert.ok(r.replyMs < MAX_FIRST_REPLY_MS, `phoenix-ga's first reply came ${r.replyMs.toFixed(0)} ms after the host connected (bound ${MAX_FIRST_REPLY_MS})`);
    // Once running, every host is answered while it waits: none finds a reply meant for an earlier one.
    for (const r of [...replies, ...fig.replies.qemuGa]) assert.is(r.stale, 0, 'no sync reply of an earlier host reached a later one');

    // The next worker generation names itself the port's owner: the dead one's signals go nowhere.
    await pair.vm.shell(`kill -9 ${pair.pids.worker}`);
    let worker = 0;
    for (let i = 0; i < 300 && !(worker && worker !== pair.pids.worker); i++) {
      await new Promise((r) => setTimeout(r, 200));
      worker = Number((await pair.vm.shell('pgrep -x phoenix-ga-work')).out.trim());
    }
    assert.ok(worker && worker !== pair.pids.worker, 'a new worker runs after the kill');
    await hostConnect(pair.sock.phoenix, 60_000);
    // Past the new worker's start-up work (V8's memory reducer, the idle collections).
    await new Promise((r) => setTimeout(r, 10_000));
    const after = (await idleWindow(pair.vm, { worker }, 20)).procs.worker.wakeupsPerS;
    const reply = await hostConnect(pair.sock.phoenix, 30_000);
    note(`vm idle: after a worker restart: host gone ${after.toFixed(2)} wake-ups/s, first reply ${reply.replyMs.toFixed(0)} ms`);
    assert.ok(after < MAX_GONE_WORKER_WAKEUPS_PER_S, `after a worker restart, host gone: the worker woke ${after.toFixed(2)} times/s (bound ${MAX_GONE_WORKER_WAKEUPS_PER_S})`);
    assert.ok(reply.replyMs < MAX_FIRST_REPLY_MS, `after a worker restart: first reply ${reply.replyMs.toFixed(0)} ms after the host connected (bound ${MAX_FIRST_REPLY_MS})`);
  } finally {
    await pair.stop();
    note(`vm idle: whole test ${since(t0)}`);
  }
});

S.run();

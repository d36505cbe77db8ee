// phoenix-ga's idle cost on a real virtio-serial port, beside Debian's qemu-ga in the same VM
// (lib/vm-idle.ts): wake-ups and CPU of every thread with the host side of the port closed (what
// Proxmox leaves between commands) and with an idle host connected, and how long a host that
// connects waits for its first reply. With no host, the port reports hang-up on every poll, so the
// worker looks again on a timer: the bounds below catch a busy poll and a wait that outgrows a
// host's patience, with room for a loaded machine. bench/vm-idle.mjs prints the same, longer.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { note, since } from './lib/host';
import { formatIdle, measureIdle, startAgentPair } from './lib/vm-idle';

/** A busy poll wakes hundreds of times a second; the design is 0.5-1 (host gone) and 0.1 (host idle). */
const MAX_WAKEUPS_PER_S = 2;
/** Proxmox gives up on its first guest-ping after 3 s. */
const MAX_FIRST_REPLY_MS = 3000;

const S = suite('idle in a VM: phoenix-ga beside qemu-ga on virtio-serial ports');

S('no busy poll with the host gone or idle, and a host that connects is answered within 3 s', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const t0 = Date.now();
  const pair = await startAgentPair();
  try {
    // The long wait (2 s) starts once the host has been gone a minute: sample it after 62 s.
    const fig = await measureIdle(pair, { gone: [{ fromS: 20, seconds: 38 }], longGoneS: 62, samples: 3, connectedS: 30 });
    for (const line of formatIdle(fig)) note(`vm idle: ${line}`);
    assert.ok(fig.sameProcesses, 'no agent process was replaced during the measurement');
    for (const [state, w] of [['host gone', fig.gone[0]], ['idle host connected', fig.connected]] as const) {
      for (const p of ['supervisor', 'worker'] as const) {
        assert.ok(w.procs[p].wakeupsPerS < MAX_WAKEUPS_PER_S, `${state}: phoenix-ga ${p} woke ${w.procs[p].wakeupsPerS.toFixed(2)} times/s (bound ${MAX_WAKEUPS_PER_S})`);
      }
    }
    const replies = [...fig.replies.phoenix, fig.replies.phoenixLongGone!];
    for (const r of replies) assert.ok(r.replyMs < MAX_FIRST_REPLY_MS, `phoenix-ga's first reply came ${r.replyMs.toFixed(0)} ms after the host connected (bound ${MAX_FIRST_REPLY_MS})`);
  } finally {
    await pair.stop();
    note(`vm idle: whole test ${since(t0)}`);
  }
});

S.run();

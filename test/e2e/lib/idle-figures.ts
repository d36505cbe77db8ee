// What an idle agent costs, measured from inside the guest: every thread's voluntary context
// switches (the times it went to sleep, so one per wake-up) and its time on a CPU (schedstat),
// read by bash builtins at the start and the end of a window (the reader spawns nothing while the
// agents are counted). And how long a host that connects waits for its first reply.

import * as crypto from 'crypto';
import * as net from 'net';
import type { Vm } from './vm';

export interface ThreadFigure { tid: number; comm: string; wakeupsPerS: number; cpuMsPerS: number }
export interface ProcessFigure { pid: number; wakeupsPerS: number; cpuMsPerS: number; threads: ThreadFigure[] }
export interface Window { seconds: number; procs: Record<string, ProcessFigure> }

interface Sample { tid: number; comm: string; wakeups: number; cpuNs: number }
interface Snapshot { at: number; procs: Map<string, Sample[]> }

const SNAPSHOT = `snap() {
  echo "T $EPOCHREALTIME"
  for np in "$@"; do
    n=\${np%%=*}; p=\${np#*=}
    [ -d /proc/$p ] || { echo "X $n"; continue; }
    for t in /proc/$p/task/*; do
      v=; while read -r k x; do [ "$k" = voluntary_ctxt_switches: ] && v=$x; done <$t/status
      read -r ns _ <$t/schedstat; read -r c <$t/comm
      echo "P $n \${t##*/} $v $ns $c"
    done
  done
}`;

function parseSnapshots(out: string): Snapshot[] {
  const snaps: Snapshot[] = [];
  for (const line of out.split('\n')) {
    const f = line.split(' ');
    if (f[0] === 'T') snaps.push({ at: Number(f[1]) * 1000, procs: new Map() });
    else if (f[0] === 'X') throw new Error(`e2e idle: ${f[1]} exited during the window`);
    else if (f[0] === 'P' && snaps.length) {
      const list = snaps[snaps.length - 1].procs.get(f[1]) ?? [];
      list.push({ tid: Number(f[2]), wakeups: Number(f[3]), cpuNs: Number(f[4]), comm: f.slice(5).join(' ') });
      snaps[snaps.length - 1].procs.set(f[1], list);
    }
  }
  if (snaps.length !== 2) throw new Error(`e2e idle: expected two snapshots from the guest, got: ${out.slice(0, 2000)}`);
  return snaps;
}

/** Per-second rates between two snapshots; a thread born in the window counts from zero. */
export function rates(a: Snapshot, b: Snapshot): Window {
  const seconds = (b.at - a.at) / 1000;
  const procs: Record<string, ProcessFigure> = {};
  for (const [name, after] of b.procs) {
    const before = new Map((a.procs.get(name) ?? []).map((t) => [t.tid, t]));
    const threads = after.map((t) => ({
      tid: t.tid, comm: t.comm,
      wakeupsPerS: (t.wakeups - (before.get(t.tid)?.wakeups ?? 0)) / seconds,
      cpuMsPerS: (t.cpuNs - (before.get(t.tid)?.cpuNs ?? 0)) / 1e6 / seconds,
    }));
    const sum = (k: 'wakeupsPerS' | 'cpuMsPerS') => threads.reduce((s, t) => s + t[k], 0);
    procs[name] = { pid: 0, wakeupsPerS: sum('wakeupsPerS'), cpuMsPerS: sum('cpuMsPerS'), threads };
  }
  return { seconds, procs };
}

/** Counts PIDS (name -> pid) in the guest over SECONDS; the test shell sleeps meanwhile. */
export async function idleWindow(vm: Vm, pids: Record<string, number>, seconds: number): Promise<Window> {
  const list = Object.entries(pids).map(([n, p]) => `${n}=${p}`).join(' ');
  const r = await vm.shell(`${SNAPSHOT}\nsnap ${list}\nsleep ${seconds}\nsnap ${list}`, seconds * 1000 + 120_000);
  if (r.code !== 0) throw new Error(`e2e idle: the guest's counter script failed (exit ${r.code}): ${r.out.slice(0, 2000)}`);
  const [a, b] = parseSnapshots(r.out);
  const w = rates(a, b);
  for (const [n, p] of Object.entries(pids)) if (w.procs[n]) w.procs[n].pid = p;
  return w;
}

export interface FirstReply {
  /** From connect() to the whole reply of the guest-sync-delimited sent at once. */
  replyMs: number;
  /** A guest-ping sent after that reply, to its reply: what a reply costs once the agent reads. */
  pingMs: number;
  /** Sync replies to earlier hosts' requests read and skipped before ours. */
  stale?: number;
  /** The connection, when asked to keep it (an idle host); otherwise closed. */
  socket?: net.Socket;
}

/** The `return` of a reply line (qemu-ga writes `{"return": 1}`, phoenix-ga `{"return":1}`). */
function returned(line: string): unknown {
  try { return (JSON.parse(line) as { return?: unknown }).return; } catch { return undefined; }
}

/**
 * Connects to an agent's host socket as Proxmox does before each command, sends
 * guest-sync-delimited at once, waits for its reply (0xFF, then the id), then pings once. Sync
 * replies with another id are skipped, as the protocol asks and libvirt and Proxmox do: a request
 * whose host gave up before the agent read it (at boot, say) is still answered, and that reply
 * reaches the next host to connect; a host that gave up on it too would leave its own reply to
 * the next one, and so on.
 */
export function hostConnect(sock: string, timeoutMs: number, keep = false): Promise<FirstReply> {
  const id = crypto.randomInt(1, 2 ** 31);
  const t0 = process.hrtime.bigint();
  const ms = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e6;
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    let buf = '';
    let replyMs: number | null = null;
    let pingAt = 0n;
    let stale = 0;
    const done = (e: Error | null, r?: FirstReply) => {
      clearTimeout(timer);
      s.removeAllListeners('data');
      if (e || !keep) s.destroy();
      if (e) reject(e); else resolve(keep ? { ...r!, socket: s } : r!);
    };
    const timer = setTimeout(() => done(new Error(`e2e idle: no reply on ${sock} in ${timeoutMs} ms; got ${JSON.stringify(buf.slice(-300))}`)), timeoutMs);
    s.on('error', (e) => done(Object.assign(new Error(`e2e idle: ${sock}: ${e.message}`), { cause: e })));
    s.on('connect', () => s.write(`{"execute":"guest-sync-delimited","arguments":{"id":${id}}}\n`));
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      while (replyMs === null) {
        const sync = buf.indexOf('\xff');
        const line = sync < 0 ? -1 : buf.indexOf('\n', sync);
        if (line < 0) return;
        const got = returned(buf.slice(sync + 1, line));
        if (got !== id) {
          if (typeof got !== 'number') return done(new Error(`e2e idle: unexpected sync reply ${JSON.stringify(buf.slice(sync, line))}`));
          stale++;
          buf = buf.slice(line + 1);
          continue;
        }
        replyMs = ms(t0);
        buf = buf.slice(line + 1);
        pingAt = process.hrtime.bigint();
        s.write('{"execute":"guest-ping"}\n');
      }
      if (buf.includes('\n')) {
        if (JSON.stringify(returned(buf.slice(0, buf.indexOf('\n')))) !== '{}') return done(new Error(`e2e idle: unexpected ping reply ${JSON.stringify(buf)}`));
        done(null, { replyMs, pingMs: ms(pingAt), stale });
      }
    });
  });
}

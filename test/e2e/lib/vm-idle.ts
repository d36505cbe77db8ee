// phoenix-ga and Debian's qemu-ga idle side by side in one QEMU VM, each on its own virtio-serial
// port: phoenix-ga installed by its installer and started by systemd on org.qemu.guest_agent.0,
// qemu-ga started by hand on org.qemu.guest_agent.1 (Debian's unit, started by udev for the .0
// port, is masked). The host side of each port is a unix socket that nobody holds between the
// measurements: what Proxmox does between commands. Shared by test/e2e/vm-idle.test.ts and
// bench/vm-idle.mjs.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT } from '../../helpers/agent';
import { onExit } from './cleanup';
import { installDebs, qemuGaDebs } from './guest-qga';
import { note, removeTree, since } from './host';
import { FirstReply, hostConnect, idleWindow, Window } from './idle-figures';
import { prepareRoot } from './nspawn';
import { ensureTree } from './rootfs';
import { startVm, Vm } from './vm';

const QGA_PORT = 'org.qemu.guest_agent.1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const loadAverage = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

export interface AgentPair {
  vm: Vm;
  sock: { phoenix: string; qemuGa: string };
  /** Guest pids: phoenix-ga's supervisor and worker, qemu-ga. */
  pids: { supervisor: number; worker: number; 'qemu-ga': number };
  stop(): Promise<void>;
}

async function sh(vm: Vm, script: string, timeoutMs?: number): Promise<string> {
  const r = await vm.shell(script, timeoutMs);
  if (r.code !== 0) throw new Error(`guest: ${script}: exit ${r.code}: ${r.out}`);
  return r.out;
}

/** Waits until the agent on SOCK answers a host that connects (TCG: 10-50 s after the shell, 220 s at load 20-28). */
async function answers(sock: string, what: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try { await hostConnect(sock, 10_000); return; } catch (e) {
      if (Date.now() > end) throw Object.assign(new Error(`e2e idle: ${what} did not answer in ${timeoutMs} ms: ${(e as Error).message}`), { cause: e });
      await sleep(1000);
    }
  }
}

export async function startAgentPair(): Promise<AgentPair> {
  const t0 = Date.now();
  const tree = await ensureTree('vm');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pga-vm-idle-'));
  const forgetDir = onExit(() => removeTree(dir));
  const sock = { phoenix: '', qemuGa: path.join(dir, 'qga.sock') };
  const root = await prepareRoot(tree, 'vm-idle');
  let vm: Vm | null = null;
  try {
    const r = spawnSync(path.join(ROOT, 'dist/phoenix-ga'), ['install', '--root', root.merged], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`e2e idle: phoenix-ga install --root failed: ${r.stdout}${r.stderr}`);
    await installDebs(root.merged, await qemuGaDebs(tree));
    fs.symlinkSync('/dev/null', path.join(root.merged, 'etc/systemd/system/qemu-guest-agent.service'));
    vm = await startVm({
      tree: root.merged,
      // Two VMs at once on a loaded host have taken over 180 s to boot.
      bootTimeoutMs: 300_000,
      extraArgs: ['-chardev', `socket,id=qga,path=${sock.qemuGa},server=on,wait=off`, '-device', `virtserialport,bus=vser0.0,chardev=qga,name=${QGA_PORT}`],
    });
  } finally {
    await root.cleanup();
  }
  const stop = async () => { await vm!.stop(); removeTree(dir); forgetDir(); };
  try {
    sock.phoenix = vm.agentSock;
    await answers(sock.phoenix, 'phoenix-ga', 480_000);
    // Not inheriting the test shell's descriptors (3 and 4 are its port and its timer fifo).
    await sh(vm, `for i in $(seq 100); do [ -e /dev/virtio-ports/${QGA_PORT} ] && break; sleep 0.2; done
      qemu-ga -d -m virtio-serial -p /dev/virtio-ports/${QGA_PORT} -f /run/qga-idle.pid -l /run/qga-idle.log 3>&- 4>&-`);
    await answers(sock.qemuGa, 'qemu-ga', 60_000);
    const [supervisor, worker, qemuGa] = (await sh(vm, 'pgrep -x phoenix-ga; pgrep -x phoenix-ga-work; cat /run/qga-idle.pid')).trim().split(/\s+/).map(Number);
    if (!(supervisor && worker && qemuGa)) throw new Error(`e2e idle: expected one supervisor, one worker and qemu-ga in the guest`);
    note(`vm idle: both agents answer ${since(t0)} after start`);
    return { vm, sock, pids: { supervisor, worker, 'qemu-ga': qemuGa }, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

export interface IdlePlan {
  /** Windows with both hosts gone, FROM seconds after they left (qemu-ga's samples come first). */
  gone: Array<{ fromS: number; seconds: number }>;
  /** phoenix-ga's first reply once its host has been gone this long (its longest wait), if set. */
  longGoneS?: number;
  /** Host connects to each agent, a few seconds after the last one left. */
  samples: number;
  /** The window with an idle host connected to each. */
  connectedS: number;
}

export interface IdleFigures {
  loadAverage: { before: string; after: string };
  gone: Array<Window & { fromS: number }>;
  connected: Window;
  replies: { phoenix: FirstReply[]; phoenixLongGone: FirstReply | null; qemuGa: FirstReply[] };
  /** No agent process was replaced during the measurement. */
  sameProcesses: boolean;
}

export async function measureIdle(pair: AgentPair, plan: IdlePlan): Promise<IdleFigures> {
  const { vm, sock, pids } = pair;
  const loadBefore = loadAverage();
  // A host came and went on each port: both agents are in the state Proxmox leaves them in.
  await hostConnect(sock.phoenix, 30_000);
  await hostConnect(sock.qemuGa, 30_000);
  const left = Date.now();
  const gap = () => sleep(3000 + Math.random() * 1500);
  const qemuGa: FirstReply[] = [];
  // qemu-ga keeps no state between hosts: its samples go first, while phoenix-ga's host stays away.
  for (let i = 0; i < plan.samples; i++) { await gap(); qemuGa.push(await hostConnect(sock.qemuGa, 30_000)); }
  const gone: IdleFigures['gone'] = [];
  for (const w of plan.gone) {
    await sleep(left + w.fromS * 1000 - Date.now());
    gone.push({ fromS: w.fromS, ...await idleWindow(vm, pids, w.seconds) });
  }
  let phoenixLongGone: FirstReply | null = null;
  if (plan.longGoneS !== undefined) {
    await sleep(left + plan.longGoneS * 1000 - Date.now());
    phoenixLongGone = await hostConnect(sock.phoenix, 30_000);
  }
  const phoenix: FirstReply[] = [];
  for (let i = 0; i < plan.samples; i++) { await gap(); phoenix.push(await hostConnect(sock.phoenix, 30_000)); }
  const hosts = [await hostConnect(sock.phoenix, 30_000, true), await hostConnect(sock.qemuGa, 30_000, true)];
  let connected: Window;
  try {
    await sleep(3000);
    connected = await idleWindow(vm, pids, plan.connectedS);
  } finally {
    for (const h of hosts) h.socket?.destroy();
  }
  const now = (await sh(vm, 'pgrep -x phoenix-ga; pgrep -x phoenix-ga-work; cat /run/qga-idle.pid')).trim().split(/\s+/).map(Number);
  const sameProcesses = now.join(' ') === [pids.supervisor, pids.worker, pids['qemu-ga']].join(' ');
  return { loadAverage: { before: loadBefore, after: loadAverage() }, gone, connected, replies: { phoenix, phoenixLongGone, qemuGa }, sameProcesses };
}

const f = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(2));
const ms = (rs: FirstReply[]) => (rs.length ? `${f(Math.min(...rs.map((r) => r.replyMs)))}-${f(Math.max(...rs.map((r) => r.replyMs)))}` : '-');

/** The figures side by side, one line each. */
export function formatIdle(fig: IdleFigures): string[] {
  const row = (what: string, w: Window) => {
    const p = (n: string) => (w.procs[n] ? `${f(w.procs[n].wakeupsPerS)} (${f(w.procs[n].cpuMsPerS)} ms)` : '-');
    return `${what.padEnd(36)} | ${p('supervisor').padEnd(16)} | ${p('worker').padEnd(16)} | ${p('qemu-ga')}`;
  };
  const { phoenix, phoenixLongGone: long, qemuGa } = fig.replies;
  return [
    `wake-ups/s (CPU ms/s) in the guest      | phoenix-ga sup.  | phoenix-ga worker| qemu-ga`,
    ...fig.gone.map((w) => row(`host gone, ${w.fromS}-${Math.round(w.fromS + w.seconds)} s after it left`, w)),
    row('idle host connected', fig.connected),
    `host connect -> first reply (ms)        | phoenix-ga ${ms(phoenix)} over ${phoenix.length}, ${long ? `${f(long.replyMs)} after >1 min` : ''} | qemu-ga ${ms(qemuGa)} over ${qemuGa.length}`,
    `a ping once reading (ms)                | phoenix-ga ${ms(phoenix.map((r) => ({ ...r, replyMs: r.pingMs })))} | qemu-ga ${ms(qemuGa.map((r) => ({ ...r, replyMs: r.pingMs })))}`,
    `host load average ${fig.loadAverage.before} before, ${fig.loadAverage.after} after; same processes throughout: ${fig.sameProcesses}`,
  ];
}

// Network changes that undo themselves (phoenix-apply-network / phoenix-confirm-network), in a real
// Debian VM (QEMU, TCG) whose eth0 systemd-networkd owns (10.0.2.15/24 via 10.0.2.2: QEMU's slirp),
// driven by the panel's client over the real virtio-serial port, which a network cut does not
// touch. A cut is real: 10.0.3.0/24 has no one answering behind slirp, so the guest reaches nothing
// on the host (a TCP port, the heartbeat receiver) until the agent reverts by itself. Then: the
// worker and the supervisor killed with SIGKILL while a cut waits for its deadline; a confirmed
// change written for networkd; a power cut while another change is open, on a persistent disk: the
// next boot has the confirmed configuration, not the open change, and the agent says why.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { AgentClient, AgentError } from '../../panel/agent-client';
import { ROOT, tempDir, waitFor } from '../helpers/agent';
import { startReceiver, TestReceiver } from '../helpers/receiver';
import { note, since } from './lib/host';
import { prepareRoot } from './lib/nspawn';
import { ensureTree } from './lib/rootfs';
import { startVm, Vm } from './lib/vm';

const CLI = path.join(ROOT, 'dist/phoenix-ga');
const VM_ID = 'vm-net';
const DROPIN = '/etc/systemd/network/10-eth0.network.d/90-phoenix-ga.conf';
const OLD = { addrs: ['10.0.2.15/24'], gw: '10.0.2.2' };
/** slirp answers only for 10.0.2.0/24: on this subnet the guest is cut off. */
const CUT = { interface: 'eth0', addresses: ['10.0.3.15/24'], gateway: '10.0.3.2', persist: false };
const CUT_STATE = { addrs: ['10.0.3.15/24'], gw: '10.0.3.2' };

interface Txn { id: string; state: string; created: string; deadline: string; reverted?: { at: string; reason: string; live: { addresses: unknown; routes: unknown } | null; files: string[] }; confirmed?: { persisted: unknown[] } }
interface Status { pending: (Txn & { 'seconds-left': number }) | null; history: Txn[]; 'panel-set': Record<string, { id: string; addresses: Array<{ address: string; prefix: number }> }> }

/** The installed agent; eth0 from systemd-networkd (as vm.test.ts); heartbeats every second to the host. */
function prepareImage(merged: string, port: number, keyFile: string): void {
  const write = (rel: string, text: string, mode = 0o644) => {
    fs.mkdirSync(path.dirname(path.join(merged, rel)), { recursive: true });
    fs.writeFileSync(path.join(merged, rel), text, { mode });
  };
  // The tree's own e2e-net.service would set the address behind networkd's back.
  fs.rmSync(path.join(merged, 'etc/systemd/system/sysinit.target.wants/e2e-net.service'));
  write('etc/systemd/network/10-eth0.network', '[Match]\nName=eth0\n\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n');
  fs.mkdirSync(path.join(merged, 'etc/systemd/system/multi-user.target.wants'), { recursive: true });
  fs.symlinkSync('/lib/systemd/system/systemd-networkd.service', path.join(merged, 'etc/systemd/system/multi-user.target.wants/systemd-networkd.service'));
  const r = spawnSync(CLI, ['install', '--root', merged], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stdout + r.stderr);
  write('etc/phoenix-ga/heartbeat.key', fs.readFileSync(keyFile, 'utf8'), 0o600);
  // A patient watchdog: a worker's start under TCG on a busy host can take over 20 s.
  fs.appendFileSync(path.join(merged, 'etc/phoenix-ga/phoenix-ga.conf'), `heartbeat = 10.0.2.2:${port}\nheartbeat-key-file = /etc/phoenix-ga/heartbeat.key\nheartbeat-interval = 1\nvm-id = ${VM_ID}\nhang-timeout = 120\n`);
}

async function sh(vm: Vm, script: string, timeoutMs?: number): Promise<string> {
  const r = await vm.shell(script, timeoutMs);
  if (r.code !== 0) throw new Error(`guest: ${script}: exit ${r.code}: ${r.out}`);
  return r.out;
}

/** eth0's IPv4 addresses and default gateway as the guest's kernel has them. */
async function eth0(vm: Vm): Promise<{ addrs: string[]; gw: string | null }> {
  const [a, r] = (await sh(vm, "ip -o -4 addr show dev eth0 | awk '{print $4}'; echo --; ip -4 route show default")).split('--\n');
  return { addrs: a.split('\n').filter(Boolean).sort(), gw: /via (\S+)/.exec(r)?.[1] ?? null };
}

/** Whether the guest opens a TCP connection to the host's PORT (slirp's 10.0.2.2 is the host's loopback). */
async function reachesHost(vm: Vm, port: number): Promise<boolean> {
  return (await sh(vm, `timeout 5 bash -c 'exec 3<>/dev/tcp/10.0.2.2/${port}' 2>/dev/null && echo yes || echo no`)).trim() === 'yes';
}

/** Every networkd file with its text, to compare before and after. */
const networkdFiles = (vm: Vm) => sh(vm, 'grep -r . /etc/systemd/network | sort');

async function pidOf(vm: Vm, name: string): Promise<number[]> {
  return (await vm.shell(`pgrep -x ${name} || true`)).out.trim().split('\n').filter(Boolean).map(Number);
}

async function agentUp(vm: Vm, what: string, timeoutMs = 300_000): Promise<AgentClient> {
  return waitFor(what, async () => {
    const c = new AgentClient({ path: vm.agentSock, attempts: 1 });
    try { await c.call('guest-ping', undefined, { timeoutMs: 3000 }); return c; } catch { c.close(); return null; }
  }, timeoutMs, 250);
}

const call = (c: AgentClient, cmd: string, args?: Record<string, unknown>) => c.call(cmd, args, { mutating: cmd !== 'phoenix-network-status' && cmd !== 'phoenix-list-ips', timeoutMs: 60_000 });
const refusal = (p: Promise<unknown>) => p.then((r) => { throw new Error(`not refused: ${JSON.stringify(r)}`); }, (e) => { if (!(e instanceof AgentError)) throw e; return e.desc; });
const status = async (c: AgentClient) => await call(c, 'phoenix-network-status') as Status;
const eth0Row = async (c: AgentClient) => (await call(c, 'phoenix-list-ips', { interface: 'eth0' }) as Array<Record<string, unknown>>)[0];

/** Waits until the guest's eth0 is as before the cut: the seconds from SENT (the apply's request) to seeing it. */
async function revertSeen(vm: Vm, sent: number, cw: number): Promise<number> {
  await waitFor('the revert', async () => JSON.stringify(await eth0(vm)) === JSON.stringify(OLD), cw * 1000 + 60_000, 200);
  return (Date.now() - sent) / 1000;
}

/** Address events of the guest's kernel from now on, with times (ip monitor), into FILE; its pid. */
const watchAddresses = async (vm: Vm, file: string) => Number(await sh(vm, `TZ=UTC setsid ip -ts monitor address </dev/null >${file} 2>&1 & echo $!`));

/** When the kernel had 10.0.2.15 back (the revert's first change), from the events in FILE; ms since the epoch. */
async function readdedAt(vm: Vm, file: string): Promise<number> {
  const text = await sh(vm, `cat ${file}`);
  const m = /^\[([0-9-]+T[0-9:.]+)\] (?!Deleted)\d+: eth0\s+inet 10\.0\.2\.15\/24/m.exec(text);
  if (!m) throw new Error(`no event of 10.0.2.15 coming back in ${file}:\n${text}`);
  return Date.parse(`${m[1].slice(0, 23)}Z`);
}

/**
 * The record of a reverted cut, with what was put back; on time by the guest's own clock: its
 * first change in the kernel (ADDED) is after the deadline and soon after it. Under a loaded
 * host, each `ip` the revert runs takes a second or more in the VM, so the end is allowed later.
 */
async function checkReverted(c: AgentClient, id: string, cw: number, added: number, agentBack = 0): Promise<void> {
  const st = await waitFor('the revert recorded', async () => { const s = await status(c); return s.pending === null && s; }, 20_000, 250);
  const t = st.history[0];
  assert.is(t.id, id);
  assert.is(t.state, 'reverted');
  assert.match(t.reverted!.reason, new RegExp(`not confirmed within ${cw} s`));
  assert.equal(t.reverted!.live, { addresses: { added: ['10.0.2.15/24'], removed: ['10.0.3.15/24'] }, routes: { added: ['default via 10.0.2.2'], removed: ['default via 10.0.3.2'] }, errors: [] });
  const start = (added - Date.parse(t.deadline)) / 1000, end = (Date.parse(t.reverted!.at) - Date.parse(t.deadline)) / 1000;
  note(`network-vm: ${id}: the revert's first change ${start.toFixed(2)} s, its record ${end.toFixed(2)} s after the deadline (guest clock), confirm-within ${cw} s`);
  // An agent restarted after the deadline (AGENT_BACK, guest clock) reverts at once instead.
  const due = Math.max(0, (agentBack - Date.parse(t.deadline)) / 1000);
  assert.ok(start >= 0 && start < due + 10, `the revert began ${start} s after the deadline (${due} s: the agent back)`);
  assert.ok(end >= start && end < due + 30, `the revert was recorded ${end} s after the deadline`);
}

const S = suite('network transactions in a QEMU VM (systemd-networkd, slirp)');

S('a cut reverts on time (also across kills), a confirmed change persists, a power cut boots the old configuration', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const t0 = Date.now();
  const dir = tempDir('pga-net-vm-');
  const rx: TestReceiver = await startReceiver(dir, VM_ID);
  const tcp = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  const tcpPort = (tcp.address() as net.AddressInfo).port;
  const root = await prepareRoot(await ensureTree('vm'), 'net-vm');
  const disk = path.join(dir, 'disk.img');
  let vm: Vm | null = null;
  try {
    prepareImage(root.merged, rx.port, rx.keyFile);
    vm = await startVm({ tree: root.merged, disk, memMb: 384, bootTimeoutMs: 400_000 });
    let c = await agentUp(vm, 'the agent on the virtio-serial port');
    await waitFor('networkd configured eth0', async () => JSON.stringify(await eth0(vm!)) === JSON.stringify(OLD), 300_000, 500);
    await rx.waitState('working', 60_000);
    assert.ok(await reachesHost(vm, tcpPort), 'the guest reaches the host before the change');
    const files = await networkdFiles(vm);
    note(`network-vm: booted with the agent and networkd ${since(t0)} after start`);

    // 1. A cut, not confirmed: reverted at its deadline by the agent alone.
    const monitor = await watchAddresses(vm, '/run/cut-1.events');
    rx.states.length = 0;
    const sent = Date.now();
    const cut = await call(c, 'phoenix-apply-network', { ...CUT, id: 'cut-1', 'confirm-within': 30 }) as Txn;
    const replied = Date.now();
    assert.is(cut.state, 'pending');
    // The panel reaches the agent over the port, but the new gateway does not answer: no confirmation.
    const no = await refusal(call(c, 'phoenix-confirm-network', { id: 'cut-1', check: { gateway: true } }));
    assert.match(no, /^not confirmed: 10\.0\.3\.2 did not answer (address resolution|ping) .*stays live until its deadline/, no);
    assert.is((await status(c)).pending?.id, 'cut-1', 'still open after the refused confirmation');
    assert.equal(await eth0(vm), CUT_STATE, 'applied live');
    assert.not.ok(await reachesHost(vm, tcpPort), 'the guest cannot reach the host meanwhile');
    await rx.waitState('silent', 15_000);
    const back = await revertSeen(vm, sent, 30);
    note(`network-vm: cut-1 undone ${back.toFixed(1)} s after the apply was sent (${((replied - sent) / 1000).toFixed(1)} s to its reply), confirm-within 30 s`);
    assert.ok(back >= 29.5, `reverted ${back} s after the apply, before its deadline`);
    const silentFrom = replied + 1000, silentTo = sent + 29_000;
    assert.is(rx.beats.filter((b) => b.at > silentFrom && b.at < silentTo).length, 0, 'no heartbeat reached the host during the cut');
    await waitFor('heartbeats again', () => rx.beats.some((b) => b.at > sent + back * 1000), 15_000, 100);
    await rx.waitState('working', 15_000);
    assert.ok(rx.states.indexOf('silent') < rx.states.lastIndexOf('working'), rx.states.join(' > '));
    assert.ok(await reachesHost(vm, tcpPort), 'the guest reaches the host again');
    assert.is(await networkdFiles(vm), files, 'the networkd configuration is as it was');
    await checkReverted(c, 'cut-1', 30, await readdedAt(vm, '/run/cut-1.events'));
    await sh(vm, `kill ${monitor}`);
    assert.match(await refusal(call(c, 'phoenix-confirm-network', { id: 'cut-1' })), /network transaction cut-1 was reverted .*not confirmed within 30 s/);

    // 4. The worker, then the supervisor killed with SIGKILL while a cut waits: still reverted on time.
    const monitor2 = await watchAddresses(vm, '/run/cut-2.events');
    rx.states.length = 0;
    const sent2 = Date.now();
    await call(c, 'phoenix-apply-network', { ...CUT, id: 'cut-2', 'confirm-within': 60 });
    c.close();
    const [worker] = await pidOf(vm, 'phoenix-ga-work');
    await sh(vm, `kill -9 ${worker}`);
    await waitFor('a new worker', async () => { const p = await pidOf(vm!, 'phoenix-ga-work'); return p.length === 1 && p[0] !== worker; }, 60_000, 250);
    c = await agentUp(vm, 'the agent after the worker was killed');
    assert.is((await status(c)).pending?.id, 'cut-2', 'the new worker found the open transaction');
    c.close();
    const [sup] = await pidOf(vm, 'phoenix-ga');
    await sh(vm, `kill -9 ${sup}`);
    await waitFor('a new supervisor', async () => { const p = await pidOf(vm!, 'phoenix-ga'); return p.length === 1 && p[0] !== sup; }, 60_000, 250);
    c = await agentUp(vm, 'the agent after the kills');
    const after = await status(c);
    const backAt = Number(await sh(vm, 'date +%s.%N')) * 1000;
    note(`network-vm: worker and supervisor killed and back ${since(sent2)} after the apply of cut-2`);
    // Back before the deadline (always, unless the host is starved): the timer is armed again.
    if (after.pending?.state === 'pending' && after.pending['seconds-left'] > 2) assert.equal(await eth0(vm), CUT_STATE, 'not reverted early by the restarted agent');
    else note('network-vm: the agent came back after the deadline of cut-2 (a loaded host): it reverts at once');
    const back2 = await revertSeen(vm, sent2, 60);
    note(`network-vm: cut-2 undone ${back2.toFixed(1)} s after the apply was sent, confirm-within 60 s`);
    assert.ok(back2 >= 59.5, `reverted ${back2} s after the apply, before its deadline`);
    await checkReverted(c, 'cut-2', 60, await readdedAt(vm, '/run/cut-2.events'), backAt);
    await sh(vm, `kill ${monitor2}`);
    await rx.waitState('working', 60_000);

    // 3. A change confirmed once the gateway answers: written for networkd.
    const add = await call(c, 'phoenix-apply-network', { interface: 'eth0', id: 'add-20', addresses: ['10.0.2.15/24', '10.0.2.20/24'], 'confirm-within': 60, check: { gateway: true } }) as Txn;
    assert.is(add.state, 'pending');
    assert.is((await vm.shell(`test -e ${DROPIN}`)).code, 1, 'nothing written before the confirmation');
    const ok = await call(c, 'phoenix-confirm-network', { id: 'add-20' }) as Txn;
    assert.is(ok.state, 'confirmed');
    assert.equal(ok.confirmed!.persisted, [{ renderer: 'networkd', file: DROPIN, action: 'added' }]);
    // 2. At once another change, left open, and a power cut: the next boot has the confirmed one.
    await call(c, 'phoenix-apply-network', { interface: 'eth0', id: 'add-30', addresses: ['10.0.2.15/24', '10.0.2.30/24'], 'confirm-within': 600 });
    assert.equal(await eth0(vm), { addrs: ['10.0.2.15/24', '10.0.2.30/24'], gw: '10.0.2.2' });
    c.close();
    const boot1 = (await sh(vm, 'cat /proc/sys/kernel/random/boot_id')).trim();
    await vm.kill();
    vm = await startVm({ tree: root.merged, disk, memMb: 384, bootTimeoutMs: 400_000 });
    assert.is.not((await sh(vm, 'cat /proc/sys/kernel/random/boot_id')).trim(), boot1);
    rx.states.length = 0;
    c = await agentUp(vm, 'the agent after the power cut');
    await waitFor('networkd configured eth0', async () => (await eth0(vm!)).addrs.includes('10.0.2.20/24'), 300_000, 500)
      .catch(async (e) => { throw new Error(`${e.message}: ${await sh(vm!, 'ip -o addr; grep -r . /etc/systemd/network')}`); });
    assert.equal(await eth0(vm), { addrs: ['10.0.2.15/24', '10.0.2.20/24'], gw: '10.0.2.2' }, 'the confirmed configuration, without the open change');
    assert.match(await sh(vm, `cat ${DROPIN}`), /^\[Address\]\nAddress=10\.0\.2\.20\/24\n/m);
    assert.not.match(await networkdFiles(vm), /10\.0\.2\.30/);
    const st = await waitFor('the open change settled', async () => { const s = await status(c); return s.pending === null && s; }, 30_000, 250);
    assert.equal(st.history.map((t) => `${t.id} ${t.state}`), ['add-30 reverted', 'add-20 confirmed', 'cut-2 reverted', 'cut-1 reverted']);
    assert.match(st.history[0].reverted!.reason, /rebooted before confirmation and booted with the previous configuration/);
    assert.is(st.history[0].reverted!.live, null, 'nothing to undo live: the boot did');
    assert.equal(st['panel-set'].eth0.addresses.map((a) => `${a.address}/${a.prefix}`), ['10.0.2.15/24', '10.0.2.20/24']);
    assert.match(await refusal(call(c, 'phoenix-confirm-network', { id: 'add-30' })), /network transaction add-30 was reverted .*rebooted before confirmation/);
    let row = await eth0Row(c);
    assert.is(row.renderer, 'networkd');
    assert.equal(row.drift, { live_only: [], persisted_only: [] });
    assert.equal(row.panel_drift, { missing: [], unexpected: [] });
    await rx.waitState('working', 60_000);

    // Changed in the guest behind the panel's back: drift from what the panel confirmed.
    await sh(vm, 'ip addr del 10.0.2.20/24 dev eth0 && ip addr add 10.0.2.40/24 dev eth0');
    row = await eth0Row(c);
    assert.equal(row.panel_drift, { missing: ['10.0.2.20/24'], unexpected: ['10.0.2.40/24'] });
    assert.equal(row.drift, { live_only: ['10.0.2.40/24'], persisted_only: ['10.0.2.20/24'] });
    c.close();
    note(`network-vm: whole scenario ${since(t0)}`);
  } catch (e) {
    if (vm) {
      const j = await vm.shell('journalctl -b --no-pager -u systemd-networkd | tail -20; tail -40 /var/log/phoenix-ga.log; cat /var/lib/phoenix-ga/network/transactions.json', 20_000).catch(() => ({ out: '(no shell)' }));
      console.error(`--- guest: networkd journal, agent log, transactions ---\n${j.out}\n--- console ---\n${vm.console().slice(-4000)}\n--- heartbeat states ---\n${rx.states.join(' > ')}`);
    }
    throw e;
  } finally {
    await vm?.stop();
    await root.cleanup();
    rx.close();
    tcp.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

S.run();

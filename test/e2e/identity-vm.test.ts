// Clone detection and zero-touch configuration in real QEMU VMs (TCG), as a hosting company meets
// them. The template: Debian with phoenix-ga installed by its own installer, no heartbeat
// configuration, SSH host keys. VM 1 boots it on a disk of its own with its own SMBIOS product
// UUID and VM generation ID (QEMU's vmgenid device); the panel configures the heartbeat over the
// virtio-serial port (panel/agent-client.ts) and the beats reach a collector on the host; a reboot
// is no clone. VM 1's disk is then copied and booted as VM 2 under another UUID and generation ID:
// a clone, which must say so once, in a new epoch and instance, without the template's journal,
// with a machine id and SSH host keys of its own. Last, VM 1's disk boots under its UUID with a
// new generation ID, as a VM restored from a snapshot. One thing is not the real thing: the image
// is minbase without OpenSSH, so the host's ssh-keygen (Debian 12, as the guest) is copied in.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { AgentClient } from '../../panel/agent-client';
import { ROOT, waitFor } from '../helpers/agent';
import { claimRunDir, onExit } from './lib/cleanup';
import { Beat, Collector, describe, startCollector } from './lib/collector';
import { mustRun, note, removeTree, since } from './lib/host';
import { prepareRoot, Root } from './lib/nspawn';
import { ensureTree } from './lib/rootfs';
import { startVm, Vm } from './lib/vm';

const CLI = path.join(ROOT, 'dist/phoenix-ga');
const INTERVAL_S = 2;
// Boots take 20-35 s on idle cores, and past 2 minutes when other VMs share them.
const BOOT_TIMEOUT_MS = 360_000;
// A keyed command sent to the template: its journal answers a replay, a clone's runs it afresh.
const TEMPLATE_OP = { cmd: 'phoenix-set-hostname', args: { hostname: 'template-a' }, key: 'template-op-1' };

interface Ids { uuid: string; genId: string }
const newIds = (): Ids => ({ uuid: crypto.randomUUID(), genId: crypto.randomUUID() });

/** What tells one machine from another, as the guest and the agent see it. */
interface Seen { status: any; machineId: string; keys: string[] }

function prepareTemplate(merged: string): void {
  const r = spawnSync(CLI, ['install', '--root', merged], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.not.match(fs.readFileSync(path.join(merged, 'etc/phoenix-ga/phoenix-ga.conf'), 'utf8'), /^heartbeat\s*=/m, 'the image has no heartbeat configuration');
  const keygen = spawnSync('sh', ['-c', 'command -v ssh-keygen'], { encoding: 'utf8' }).stdout.trim();
  if (!keygen) throw new Error('ssh-keygen is missing: apt-get install openssh-client (build/setup.sh installs openssh-server, which brings it)');
  fs.copyFileSync(keygen, path.join(merged, 'usr/bin/ssh-keygen'));
  fs.chmodSync(path.join(merged, 'usr/bin/ssh-keygen'), 0o755);
  fs.mkdirSync(path.join(merged, 'etc/ssh'), { recursive: true });
  const k = spawnSync('ssh-keygen', ['-q', '-A', '-f', merged], { encoding: 'utf8' });
  assert.is(k.status, 0, k.stderr);
}

async function sh(vm: Vm, script: string, timeoutMs?: number): Promise<string> {
  const r = await vm.shell(script, timeoutMs);
  if (r.code !== 0) throw new Error(`guest: ${script}: exit ${r.code}: ${r.out}`);
  return r.out;
}

/**
 * A client that has resynchronised and had a ping answered. At load 25 a worker took over 20 s to
 * start and was killed as hung five times in a row (backoff 0.5-4 s) before one got through.
 */
async function agentUp(vm: Vm, what: string, timeoutMs = 480_000): Promise<AgentClient> {
  return waitFor(what, async () => {
    const c = new AgentClient({ path: vm.agentSock, attempts: 1 });
    try { await c.call('guest-ping', undefined, { timeoutMs: 3000 }); return c; } catch { c.close(); return null; }
  }, timeoutMs, 250);
}

/** phoenix-agent-status once any regeneration is over, with the guest's machine id and the host keys' fingerprints. */
async function seen(vm: Vm, c: AgentClient): Promise<Seen> {
  const status = await waitFor('the identity settled', async () => {
    // While ssh-keygen runs under TCG, the supervisor may not answer the worker within its 2 s.
    const s = await c.call('phoenix-agent-status', undefined, { timeoutMs: 30_000 }).catch(() => null) as any;
    return s && s.identity.regeneration !== 'pending' && s;
  }, 180_000, 500);
  const machineId = (await sh(vm, 'cat /etc/machine-id')).trim();
  const hk = await c.call('phoenix-get-host-keys') as { keys: Array<{ fingerprint: string }>; skipped: unknown[] };
  assert.equal(hk.skipped, []);
  const keys = hk.keys.map((k) => k.fingerprint).sort();
  // The agent's fingerprints are those ssh-keygen shows in the guest.
  const listed = (await sh(vm, 'for f in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -lf "$f"; done')).trim().split('\n').map((l) => l.split(' ')[1]).sort();
  assert.equal(keys, listed);
  return { status, machineId, keys };
}

/** DISK booted under IDS; a disk that does not exist yet is made from the template tree. */
async function bootVm(disk: string, ids: Ids, what: string): Promise<{ vm: Vm; c: AgentClient }> {
  const t0 = Date.now();
  const vm = await startVm({ tree: root!.merged, disk, memMb: 384, bootTimeoutMs: BOOT_TIMEOUT_MS, extraArgs: ['-smbios', `type=1,uuid=${ids.uuid}`, '-device', `vmgenid,guid=${ids.genId}`] });
  running.add(vm);
  const c = await agentUp(vm, `the agent of ${what}`);
  note(`identity e2e: ${what} booted, agent answers ${since(t0)} after start`);
  return { vm, c };
}

async function stopVm(vm: Vm, c: AgentClient): Promise<void> {
  c.close();
  // What the guest wrote reaches the disk before QEMU quits: the copy is the disk as it was.
  await sh(vm, 'sync');
  await vm.stop();
  running.delete(vm);
}

/** The template's keyed command again; the host name tells whether it ran or the journal answered. */
async function replayTemplateOp(vm: Vm, c: AgentClient): Promise<string> {
  await c.call(TEMPLATE_OP.cmd, TEMPLATE_OP.args, { mutating: true, key: TEMPLATE_OP.key, timeoutMs: 30_000 });
  return (await sh(vm, 'hostname')).trim();
}

const assertAllNew = (now: string[], before: string[]): void => {
  assert.is(now.length, before.length, `as many host keys as before: ${now.join(' ')}`);
  for (const k of now) assert.not.ok(before.includes(k), `${k} is a new host key`);
};

const running = new Set<Vm>();
let root: Root | null = null;
let col: Collector;
let disks: string;
let forgetDisks: () => void;
// What VM 1 showed after its reboot: the template as the clones find it.
let template: Seen & { ids: Ids; lastBeat: Beat };

const S = suite('clone detection and zero-touch configuration in QEMU VMs');

S.before(async () => {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  col = await startCollector();
  disks = claimRunDir('identity-disks');
  forgetDisks = onExit(() => removeTree(disks));
  root = await prepareRoot(await ensureTree('vm'), 'identity-template');
  prepareTemplate(root.merged);
});

// A VM still running after its test failed: what the agent logged, then it is stopped.
S.after.each(async () => {
  for (const vm of running) {
    const j = await vm.shell('journalctl -b --no-pager -u phoenix-ga | tail -40; tail -30 /var/log/phoenix-ga.log', 20_000).catch(() => ({ out: '(no shell)' }));
    console.error(`--- guest: phoenix-ga journal and log ---\n${j.out}\n--- console ---\n${vm.console().slice(-3000)}\n--- beats ---\n${col.beats.slice(-30).map(describe).join('\n')}`);
    await vm.stop();
    running.delete(vm);
  }
});

S.after(async () => {
  await root?.cleanup();
  col?.close();
  removeTree(disks);
  forgetDisks();
});

S('zero-touch: the panel configures the heartbeat over the port, beats arrive within one interval and after a reboot; a reboot is no clone', async () => {
  const ids = newIds();
  const { vm, c } = await bootVm(path.join(disks, 'vm1.img'), ids, 'VM 1');
  const first = await seen(vm, c);
  assert.is(first.status.cloned, undefined);
  assert.is(first.status.identity.last_change, null, 'the first start records the identity and reports nothing');
  assert.equal(first.status.identity.sources, ['machine-id', 'product-uuid', 'vm-generation-id']);
  assert.match(first.machineId, /^[0-9a-f]{32}$/);
  assert.is(first.status.heartbeat.enabled, false);
  assert.is(col.beats.length, 0, 'no heartbeat before the panel configures one');

  // Zero-touch: heartbeat, key and interval over the port; the VM id stays the machine id.
  const set = await c.call('phoenix-set-config', { heartbeat: `10.0.2.2:${col.port}`, key: col.keyHex, 'key-id': col.keyId, 'heartbeat-interval': INTERVAL_S },
    { mutating: true, key: 'provision-vm-1', timeoutMs: 30_000 }) as { heartbeat: { enabled: boolean; vm_id: string } };
  const replied = Date.now();
  assert.equal(set.heartbeat, { enabled: true, target: `10.0.2.2:${col.port}`, vm_id: first.machineId });
  const beat = await col.waitBeat('the first beat', (b) => b.vmId === first.machineId);
  assert.ok(beat.at - replied < INTERVAL_S * 1000, `the first beat came ${beat.at - replied} ms after the reply, more than one interval`);
  assert.is(beat.payload.interval_ms, INTERVAL_S * 1000);
  assert.is(beat.payload.cloned, undefined);
  assert.is(col.receiver.view(first.machineId)!.state, 'working');

  const ran = await c.call(TEMPLATE_OP.cmd, TEMPLATE_OP.args, { mutating: true, key: TEMPLATE_OP.key, timeoutMs: 30_000 }) as { live: string };
  assert.is(ran.live, 'changed', JSON.stringify(ran));
  c.close();

  // An ordinary reboot: the config was persisted and beats resume in a new epoch (a higher start
  // counter), but the machine is the same: same instance, machine id and host keys, no `cloned`.
  const from = col.beats.length;
  await vm.reboot();
  const c2 = await agentUp(vm, 'the agent of VM 1 after its reboot');
  const after = await seen(vm, c2);
  const next = await col.waitBeat('a beat of the new boot', (b) => b.vmId === first.machineId && b.payload.boot !== beat.payload.boot, from, 120_000);
  assert.is.not(next.epoch, beat.epoch);
  assert.ok(next.counter > beat.counter, `start counter ${next.counter} after ${beat.counter}`);
  assert.is(after.status.cloned, undefined);
  assert.is(after.status.identity.instance, first.status.identity.instance);
  assert.is(after.status.identity.last_change, null);
  assert.is(after.machineId, first.machineId);
  assert.equal(after.keys, first.keys);
  assert.match(await sh(vm, 'cat /etc/phoenix-ga/phoenix-ga.conf'), new RegExp(`^heartbeat = 10\\.0\\.2\\.2:${col.port}$`, 'm'));
  // The journal outlived the reboot: the replay is answered from it, the host name set by hand stays.
  await sh(vm, 'hostname manual-1 && echo manual-1 >/etc/hostname');
  assert.is(await replayTemplateOp(vm, c2), 'manual-1', 'the replay was answered from the journal, not run');
  await waitFor('a few beats after the reboot', () => col.beats.length >= from + 3, 30_000, 100);
  assert.ok(col.beats.slice(from).every((b) => !b.payload.cloned), col.beats.slice(from).map(describe).join(', '));
  template = { ...after, ids, lastBeat: col.beats[col.beats.length - 1] };
  await stopVm(vm, c2);
});

/** VM 1's disk as it was, booted under IDS: checks what every clone must show, and returns it. */
async function cloneOf(name: string, disk: string, ids: Ids, sources: string[]): Promise<{ vm: Vm; c: AgentClient; s: Seen; from: number }> {
  if (!template) throw new Error('VM 1 did not get through its scenario: no template to clone');
  const from = col.beats.length;
  const { vm, c } = await bootVm(disk, ids, name);
  const s = await seen(vm, c);
  assert.is(s.status.cloned, true, 'phoenix-agent-status says cloned');
  assert.equal(s.status.identity.last_change.sources, sources);
  assert.is.not(s.status.identity.instance, template.status.identity.instance);
  assert.is(s.status.identity.regeneration, 'done', JSON.stringify(s.status.identity));
  assert.is(s.status.identity.regenerated.machine_id, 'written');
  assert.match(s.machineId, /^[0-9a-f]{32}$/);
  assert.is.not(s.machineId, template.machineId);
  assertAllNew(s.keys, template.keys);
  // The template's journal is forgotten: its key no longer answers, the command runs afresh.
  assert.is(await replayTemplateOp(vm, c), TEMPLATE_OP.args.hostname, 'the replay ran afresh');

  // Beats: the start's first beat (sent before the worker looked) under the template's machine
  // id, then one new epoch that says cloned, under the new machine id once it is made.
  const cloned = await col.waitBeat('a cloned beat under the new machine id', (b) => b.vmId === s.machineId && !!b.payload.cloned, from, 60_000);
  const mine = col.beats.slice(from).filter((b) => b.payload.boot === cloned.payload.boot);
  assert.equal([...new Set(mine.filter((b) => b.payload.cloned).map((b) => b.epoch))], [cloned.epoch], 'one epoch says cloned');
  assert.ok(mine.filter((b) => !b.payload.cloned).every((b) => b.epoch !== cloned.epoch && b.vmId === template.machineId && b.counter < cloned.counter), mine.map(describe).join(', '));
  assert.ok(cloned.counter > template.lastBeat.counter, `start counter ${cloned.counter} after the template's ${template.lastBeat.counter}`);
  const view = col.receiver.view(s.machineId)!;
  assert.is(view.payload.cloned, true);
  assert.match(view.reason, /the agent found this machine to be a clone or a new instance$/);
  assert.is((await c.call('phoenix-agent-status') as any).heartbeat.vm_id, s.machineId, 'the supervisor beats under the new machine id');
  return { vm, c, s, from };
}

S('a copy of the disk booted as another VM is a clone: reported once, new epoch and instance, journal forgotten, new machine id and host keys', async () => {
  const disk1 = path.join(disks, 'vm1.img');
  const disk2 = path.join(disks, 'vm2.img');
  await mustRun('cp', ['--sparse=always', disk1, disk2]);
  const { vm, c, s } = await cloneOf('VM 2, a copy of VM 1', disk2, newIds(), ['vm-generation-id', 'product-uuid']);
  c.close();

  // Reported once: the clone's agent restarted is the same machine again.
  const from = col.beats.length;
  const lastEpoch = col.beats.filter((b) => b.vmId === s.machineId).pop()!.epoch;
  await sh(vm, 'systemctl restart phoenix-ga');
  const c2 = await agentUp(vm, 'the agent of VM 2 after a restart');
  const again = await seen(vm, c2);
  assert.is(again.status.cloned, undefined);
  assert.is(again.status.identity.instance, s.status.identity.instance);
  assert.is(again.machineId, s.machineId);
  assert.equal(again.keys, s.keys);
  const b = await col.waitBeat('a beat of the restarted agent', (x) => x.vmId === s.machineId && x.epoch !== lastEpoch, from);
  assert.is(b.payload.cloned, undefined);
  await stopVm(vm, c2);
});

S('VM 1 restored from a snapshot under a new generation ID (same UUID) is a new instance too', async () => {
  const ids = { uuid: template?.ids.uuid ?? crypto.randomUUID(), genId: crypto.randomUUID() };
  const { vm, c } = await cloneOf('VM 1 under a new generation ID', path.join(disks, 'vm1.img'), ids, ['vm-generation-id']);
  await stopVm(vm, c);
});

S.run();

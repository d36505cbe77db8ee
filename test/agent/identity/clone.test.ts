// A cloned machine, for real: the built agent runs in a private mount namespace whose /sys/class
// carries a product_uuid of the test's choosing (an overlay, read-only, over the kernel's
// /sys/class), which is how the hypervisor's SMBIOS UUID is simulated here; everything else is
// real: the state directory, the journal, the heartbeats (the panel's receiver library on
// loopback), ssh-keygen, and an --os-root tree with its own /etc/machine-id and SSH host keys.
// First start, restart, restart as a clone, restart of the clone, a clone with the option off.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'child_process';
import * as net from 'net';
import * as fs from 'fs';
import * as path from 'path';
import { startAgent, tempDir, waitFor } from '../../helpers/agent';
import { QgaClient } from '../../helpers/qga-client';
import { startReceiver, TestReceiver } from '../../helpers/receiver';
import { makeTree, Tree } from '../../helpers/root-tree';

/**
 * A wrap for startAgent: the supervisor sees UUID at /sys/class/dmi/id/product_uuid (root-only, as
 * the kernel's) and, given GENID, QEMU's vmgenid fw_cfg file with that GUID at offset 40.
 */
function withIdentity(dir: string, uuid: string, genId?: string): string[] {
  const lower = fs.mkdtempSync(path.join(dir, 'sys-'));
  fs.mkdirSync(path.join(lower, 'class/dmi/id'), { recursive: true });
  fs.writeFileSync(path.join(lower, 'class/dmi/id/product_uuid'), `${uuid}\n`, { mode: 0o400 });
  let script = `mount -t overlay overlay -o lowerdir=${lower}/class:/sys/class /sys/class`;
  if (genId) {
    const raw = Buffer.alloc(4096);
    raw.write(genId, 40, 'hex');
    fs.mkdirSync(path.join(lower, 'firmware/qemu_fw_cfg/by_name/etc/vmgenid_guid'), { recursive: true });
    fs.writeFileSync(path.join(lower, 'firmware/qemu_fw_cfg/by_name/etc/vmgenid_guid/raw'), raw, { mode: 0o400 });
    script += ` && mount -t overlay overlay -o lowerdir=${lower}/firmware:/sys/firmware /sys/firmware`;
  }
  return ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', `${script} && exec "$@"`, 'sh'];
}

const fingerprints = (tree: Tree): string[] => fs.readdirSync(tree.file('/etc/ssh')).filter((n) => n.endsWith('.pub')).sort()
  .map((n) => execFileSync('ssh-keygen', ['-lf', tree.file(`/etc/ssh/${n}`)], { encoding: 'utf8' }).trim());

interface Run { status: any; mutations: number; beats: TestReceiver['beats']; output: string }

test('a clone (a changed product UUID) is reported once, in a new epoch, without the template\'s journal, with a new machine-id and SSH host keys; a restart is no clone', async () => {
  const dir = tempDir();
  const tree = makeTree();
  tree.write('/etc/machine-id', 'a1b2c3d4e5f60718293a4b5c6d7e8f90\n', 0o444);
  fs.mkdirSync(tree.file('/etc/ssh'));
  execFileSync('ssh-keygen', ['-q', '-A', '-f', tree.root]);
  const noRegen = path.join(dir, 'no-regen.conf');
  fs.writeFileSync(noRegen, 'regenerate-identity-on-clone = no\n', { mode: 0o600 });
  const rx = await startReceiver(dir);
  const log = path.join(dir, 'mutations.log');
  const mutate = { file: log, tag: 'm', 'idempotency-key': 'template-op-1' };

  /** One supervisor start as UUID; waits until any regeneration is over, replays the keyed command, stops. */
  async function run(uuid: string, extra: string[] = []): Promise<Run> {
    const from = rx.beats.length;
    const agent = startAgent({ dir, interval: 0.2, hangTimeout: 10, testCommands: true, heartbeatPort: rx.port, keyFile: rx.keyFile,
      wrap: withIdentity(dir, uuid), args: ['--os-root', tree.root, ...extra] });
    try {
      await agent.waitReady(10_000);
      const c = await QgaClient.connect(agent.sock);
      const status = await waitFor('the identity settled', async () => {
        const s = (await c.request('phoenix-agent-status')).return;
        return s.identity.regeneration !== 'pending' && s;
      }, 20_000, 100);
      const r = await c.request('phoenix-test-mutate', mutate);
      assert.equal(r, { return: { ran: 'm' } });
      // A few beats of this run reach the receiver.
      await waitFor('beats', () => rx.beats.length >= from + 4, 5000);
      c.close();
      return { status, mutations: fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).length, beats: rx.beats.slice(from), output: agent.output() };
    } finally {
      await agent.stop();
    }
  }

  try {
    const machineId0 = tree.read('/etc/machine-id');
    const keys0 = fingerprints(tree);

    // First start: the identity is recorded; nothing is a change.
    const first = await run('8d5c0e9a-3f41-4b8e-9d2a-1c7e5f3b2a10');
    assert.is(first.status.cloned, undefined);
    assert.is(first.status.identity.last_change, null);
    assert.equal(first.status.identity.sources, ['machine-id', 'product-uuid']);
    assert.ok(fs.existsSync(path.join(dir, 'state/identity.json')));
    // The product UUID is root's to read in sysfs: so is the record.
    assert.is(fs.statSync(path.join(dir, 'state/identity.json')).mode & 0o777, 0o600);
    assert.is(JSON.parse(fs.readFileSync(path.join(dir, 'state/identity.json'), 'utf8')).sources['product-uuid'], '8d5c0e9a-3f41-4b8e-9d2a-1c7e5f3b2a10');
    assert.is(first.mutations, 1);
    assert.ok(first.beats.every((b) => b.view.payload.cloned === undefined));

    // A restart on the same machine (a reboot looks the same to the agent): same instance, no clone,
    // the journal answers the replay, nothing regenerated.
    const again = await run('8d5c0e9a-3f41-4b8e-9d2a-1c7e5f3b2a10');
    assert.is(again.status.cloned, undefined);
    assert.is(again.status.identity.instance, first.status.identity.instance);
    assert.is(again.mutations, 1, 'the replay was answered from the journal');
    assert.is(tree.read('/etc/machine-id'), machineId0);
    assert.equal(fingerprints(tree), keys0);
    assert.ok(again.beats.every((b) => b.view.payload.cloned === undefined));

    // The disk booted as another VM: a new product UUID.
    const clone = await run('5e0f7b21-9c3d-4a6e-8b1f-2d4c6a8e0f13');
    assert.is(clone.status.cloned, true);
    assert.is.not(clone.status.identity.instance, first.status.identity.instance);
    assert.equal(clone.status.identity.last_change.sources, ['product-uuid']);
    assert.is(clone.status.identity.regeneration, 'done');
    assert.is(clone.mutations, 2, 'the template\'s journal is gone: the replay ran afresh');
    const machineId1 = tree.read('/etc/machine-id');
    assert.match(machineId1, /^[0-9a-f]{32}\n$/);
    assert.is.not(machineId1, machineId0);
    const keys1 = fingerprints(tree);
    assert.is(keys1.length, keys0.length);
    for (const k of keys1) assert.not.ok(keys0.some((o) => o.split(' ')[1] === k.split(' ')[1]), `${k} is a new key`);
    assert.match(clone.output, /identity: product-uuid changed since the last start/);
    // A new epoch in the same run: the first beat (sent before the worker looked) is of another epoch.
    const cloned = clone.beats.filter((b) => b.view.payload.cloned);
    assert.ok(cloned.length >= 2, 'the beats after the check say cloned');
    const before = clone.beats.filter((b) => !b.view.payload.cloned);
    for (const b of before) assert.is.not(b.view.epoch, cloned[0].view.epoch);
    assert.ok(BigInt(cloned[0].view.startCounter) > BigInt(first.beats[0].view.startCounter));

    // The clone restarted: no longer reported, same instance, nothing regenerated again.
    const cloneAgain = await run('5e0f7b21-9c3d-4a6e-8b1f-2d4c6a8e0f13');
    assert.is(cloneAgain.status.cloned, undefined);
    assert.is(cloneAgain.status.identity.instance, clone.status.identity.instance);
    assert.is(cloneAgain.mutations, 2);
    assert.is(tree.read('/etc/machine-id'), machineId1);
    assert.equal(fingerprints(tree), keys1);
    assert.ok(cloneAgain.beats.every((b) => b.view.payload.cloned === undefined));

    // With regenerate-identity-on-clone = no: reported and the journal forgotten, machine-id and keys kept.
    const off = await run('c3a9d2e4-7b16-4f08-a5e3-9d1b7c2f4e60', ['--config', noRegen]);
    assert.is(off.status.cloned, true);
    assert.is(off.status.identity.regeneration, 'off');
    assert.is(off.mutations, 3);
    assert.is(tree.read('/etc/machine-id'), machineId1);
    assert.equal(fingerprints(tree), keys1);
  } finally {
    rx.close();
    fs.rmSync(tree.root, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const freePort = (): Promise<number> => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as net.AddressInfo; s.close(() => resolve(port)); });
});

/** The key a live sshd serves, as ssh-keyscan gets it: "ssh-ed25519 BASE64". */
const servedKey = (port: number): string => execFileSync('ssh-keyscan', ['-t', 'ed25519', '-p', String(port), '127.0.0.1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  .split('\n').find((l) => l.includes('ssh-ed25519'))!.split(' ').slice(1, 3).join(' ');

test('a new VM generation ID with the same product UUID is a change too; a running sshd is told and serves the new host key', async () => {
  const dir = tempDir();
  const tree = makeTree();
  tree.write('/etc/machine-id', 'b1b2c3d4e5f60718293a4b5c6d7e8f90\n', 0o444);
  fs.mkdirSync(tree.file('/etc/ssh'));
  fs.mkdirSync(tree.file('/run'));
  execFileSync('ssh-keygen', ['-q', '-A', '-f', tree.root]);
  const port = await freePort();
  const hostKey = tree.file('/etc/ssh/ssh_host_ed25519_key');
  // The tree's own sshd: its pid file is where the agent looks in the tree, /run/sshd.pid. sshd
  // needs its privilege separation directory, which only a started ssh service would have made.
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', '/dev/null', '-h', hostKey, '-o', `ListenAddress=127.0.0.1:${port}`, '-o', `PidFile=${tree.file('/run/sshd.pid')}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let sshdLog = '';
  sshd.stderr!.on('data', (d) => { sshdLog += d; });
  const uuid = '2b7e4f90-1c3a-4d5e-8f60-7a9b0c1d2e3f';
  const start = (genId: string) => startAgent({ dir, interval: 0.5, hangTimeout: 10, wrap: withIdentity(dir, uuid, genId), args: ['--os-root', tree.root] });
  const settled = async (sock: string) => {
    const c = await QgaClient.connect(sock);
    try {
      return await waitFor('the identity settled', async () => { const s = (await c.request('phoenix-agent-status')).return; return s.identity.regeneration !== 'pending' && s; }, 20_000, 100);
    } finally { c.close(); }
  };
  try {
    await waitFor('sshd listening', () => fs.existsSync(tree.file('/run/sshd.pid')), 5000);
    const pub0 = tree.read('/etc/ssh/ssh_host_ed25519_key.pub').split(' ').slice(0, 2).join(' ');
    assert.is(servedKey(port), pub0);

    let agent = start('00112233445566778899aabbccddeeff');
    await agent.waitReady(10_000);
    const first = await settled(agent.sock);
    assert.equal(first.identity.sources, ['machine-id', 'product-uuid', 'vm-generation-id']);
    assert.is(first.cloned, undefined);
    await agent.stop();

    // A snapshot restored as a new VM, a copy that kept the UUID: only the generation ID differs.
    agent = start('ffeeddccbbaa99887766554433221100');
    await agent.waitReady(10_000);
    const copy = await settled(agent.sock);
    await agent.stop();
    assert.is(copy.cloned, true);
    assert.equal(copy.identity.last_change.sources, ['vm-generation-id']);
    assert.is(copy.identity.regeneration, 'done', JSON.stringify(copy.identity));
    assert.is(copy.identity.regenerated.sshd, 'reloaded');
    const pub1 = tree.read('/etc/ssh/ssh_host_ed25519_key.pub').split(' ').slice(0, 2).join(' ');
    assert.is.not(pub1, pub0);
    assert.match(sshdLog, /Received SIGHUP; restarting/);
    // The same sshd process, re-executed, serves the new key.
    assert.is(await waitFor('sshd serving the new key', () => { try { return servedKey(port) === pub1 && pub1; } catch { return false; } }, 5000, 100), pub1);
  } finally {
    sshd.kill('SIGTERM');
    fs.rmSync(tree.root, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('one part of the regeneration failing leaves the other done: a linked /etc/machine-id is not written through, the host keys are new', async () => {
  const dir = tempDir();
  const tree = makeTree();
  // A system that keeps its machine id elsewhere; the link is not followed.
  tree.write('/run/machine-id', 'c1b2c3d4e5f60718293a4b5c6d7e8f90\n', 0o444);
  fs.symlinkSync('../run/machine-id', tree.file('/etc/machine-id'));
  fs.mkdirSync(tree.file('/etc/ssh'));
  execFileSync('ssh-keygen', ['-q', '-A', '-f', tree.root]);
  const keys0 = fingerprints(tree);
  const status = async (uuid: string) => {
    const agent = startAgent({ dir, interval: 0.5, hangTimeout: 10, wrap: withIdentity(dir, uuid), args: ['--os-root', tree.root] });
    try {
      await agent.waitReady(10_000);
      const c = await QgaClient.connect(agent.sock);
      const s = await waitFor('the identity settled', async () => { const r = (await c.request('phoenix-agent-status')).return; return r.identity.regeneration !== 'pending' && r; }, 20_000, 100);
      c.close();
      return s;
    } finally {
      await agent.stop();
    }
  };
  try {
    await status('7a1e2b3c-4d5e-4f60-8a1b-2c3d4e5f6071');
    const clone = await status('9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a');
    assert.is(clone.cloned, true);
    assert.is(clone.identity.regeneration, 'failed');
    assert.match(clone.identity.regeneration_error, /^machine-id: \/etc\/machine-id is a symbolic link; refusing to write through it$/);
    assert.is(clone.identity.regenerated.machine_id, 'failed');
    assert.is(tree.read('/run/machine-id'), 'c1b2c3d4e5f60718293a4b5c6d7e8f90\n', 'the link\'s target is untouched');
    assert.ok(fs.lstatSync(tree.file('/etc/machine-id')).isSymbolicLink());
    const keys1 = fingerprints(tree);
    assert.is(keys1.length, 3);
    for (const k of keys1) assert.not.ok(keys0.includes(k), `${k} is a new key`);
  } finally {
    fs.rmSync(tree.root, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

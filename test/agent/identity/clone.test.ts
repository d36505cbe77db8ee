// A cloned machine, for real: the built agent runs in a private mount namespace whose /sys/class
// carries a product_uuid of the test's choosing (an overlay, read-only, over the kernel's
// /sys/class), which is how the hypervisor's SMBIOS UUID is simulated here; everything else is
// real: the state directory, the journal, the heartbeats (the panel's receiver library on
// loopback), ssh-keygen, and an --os-root tree with its own /etc/machine-id and SSH host keys.
// First start, restart, restart as a clone, restart of the clone, a clone with the option off.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { startAgent, tempDir, waitFor } from '../../helpers/agent';
import { QgaClient } from '../../helpers/qga-client';
import { startReceiver, TestReceiver } from '../../helpers/receiver';
import { makeTree, Tree } from '../../helpers/root-tree';

/** A wrap for startAgent: the supervisor sees UUID at /sys/class/dmi/id/product_uuid (root-only, as the kernel's). */
function withProductUuid(dir: string, uuid: string): string[] {
  const lower = fs.mkdtempSync(path.join(dir, 'sys-class-'));
  fs.mkdirSync(path.join(lower, 'dmi/id'), { recursive: true });
  fs.writeFileSync(path.join(lower, 'dmi/id/product_uuid'), `${uuid}\n`, { mode: 0o400 });
  const script = `mount -t overlay overlay -o lowerdir=${lower}:/sys/class /sys/class && exec "$@"`;
  return ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh'];
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
      wrap: withProductUuid(dir, uuid), args: ['--os-root', tree.root, ...extra] });
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
    assert.not.ok(fs.readFileSync(path.join(dir, 'state/identity.json'), 'utf8').includes('8d5c0e9a'), 'the UUID itself is not stored, only a digest');
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

test.run();

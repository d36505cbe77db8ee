// The example replies docs/commands.md shows for the phoenix-* commands (build/command-examples.ts)
// against a real agent: each example request is sent, and the reply must have the example's shape
// (the same keys, the same types, arrays by their first element). The agent runs in its own
// network and UTS namespaces with a temporary Debian ifupdown root, so the address and host name
// examples change nothing of this machine; the file system the grow example grows is a real xfs
// on a loop-device disk made here (its mount point sent instead of the example's). PGA_PRINT_EXAMPLES=1
// prints the real replies.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { EXAMPLES } from '../build/command-examples';
import { startAgent, tempDir, waitFor } from './helpers/agent';
import { loopDisk } from './helpers/loop-disk';
import { makeNetNs } from './helpers/netns';
import { QgaClient } from './helpers/qga-client';
import { makeTree } from './helpers/root-tree';

/** Keys with the type of each value; arrays by their first element. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, shape((v as Record<string, unknown>)[k])]));
  return v === null ? 'null' : typeof v;
}

test('every phoenix-* command has an example, and each example reply has the shape of the real one', async () => {
  const ns = makeNetNs();
  const tree = makeTree();
  tree.write('/sbin/ifup', '#!/bin/sh\n', 0o755);
  tree.write('/etc/network/interfaces', 'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nallow-hotplug eth0\niface eth0 inet dhcp\n');
  fs.mkdirSync(tree.file('/etc/network/interfaces.d'), { recursive: true });
  // phoenix-get-host-keys reads the tree's host keys.
  fs.mkdirSync(tree.file('/etc/ssh'));
  execFileSync('ssh-keygen', ['-q', '-A', '-f', tree.root]);
  tree.write('/etc/machine-id', '6a1c3e5f7b9d4f21a3c5e7f9b1d3f5a7\n', 0o444);
  const dir = tempDir();
  // Made before the agent starts: its mount namespace (ip netns exec) is a copy taken then.
  const disk = loopDisk({ label: 'gpt', mib: 400, parts: [',384M'], fs: 'xfs' });
  disk.grow(1024);
  const argsOf: Record<string, Record<string, unknown>> = { 'phoenix-grow-filesystem': { mountpoint: disk.mnt } };
  // phoenix-set-config writes the config file and the key file: these, never the machine's.
  fs.writeFileSync(`${dir}/phoenix-ga.conf`, `heartbeat-key-file = ${dir}/heartbeat.key\n`, { mode: 0o600 });
  const agent = startAgent({ dir, interval: 0.5, hangTimeout: 10, testCommands: true, wrap: ['ip', 'netns', 'exec', ns.name, 'unshare', '--uts', '--'], args: ['--os-root', tree.root, '--config', `${dir}/phoenix-ga.conf`] });
  try {
    await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    const names = (await c.request('guest-info')).return.supported_commands.map((x: { name: string }) => x.name).filter((n: string) => n.startsWith('phoenix-'));
    assert.equal(Object.keys(EXAMPLES).sort(), [...names].sort(), 'an example for each phoenix-* command, and none for a command that does not exist');
    // Statistics need two readings for a sample.
    await c.request('phoenix-set-stats', { interval: 1 });
    await waitFor('a sample', async () => (await c.request('phoenix-get-stats')).return.samples.length > 0, 10_000, 300);
    for (const [name, ex] of Object.entries(EXAMPLES)) {
      // The exiting test command answers nothing: the worker is gone.
      if (ex.reply === null) continue;
      const r = await c.request(name, argsOf[name] ?? ex.args, 120_000);
      if (process.env.PGA_PRINT_EXAMPLES) { console.log(`${name} ${JSON.stringify(r)}`); continue; }
      assert.equal(shape(r), shape(ex.reply), `${name}: the example's shape is the agent's`);
    }
    c.close();
  } finally {
    await agent.stop();
    ns.remove();
    disk.cleanup();
    fs.rmSync(String(EXAMPLES['phoenix-test-mutate'].args!.file), { force: true });
  }
});

test.run();

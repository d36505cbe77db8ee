// phoenix-ga-ctl apply-network, network-status and confirm-network against the real agent in a
// network namespace: the words become the commands' arguments, the replies one line each.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { ROOT, startAgent, tempDir } from '../helpers/agent';
import { makeNetNs } from '../helpers/netns';
import { makeTree } from '../helpers/root-tree';

test('apply-network, network-status, confirm-network: one line each, the change kept', async () => {
  const ns = makeNetNs();
  const tree = makeTree();
  const agent = startAgent({ dir: tempDir(), interval: 0.5, hangTimeout: 10, wrap: ['ip', 'netns', 'exec', ns.name], args: ['--os-root', tree.root] });
  try {
    await agent.waitReady();
    const ctl = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'dist/phoenix-ga-ctl.js'), '--socket', agent.sock, ...args], { encoding: 'utf8' });
    const a = ctl('apply-network', 'eth0', '203.0.113.10/24', '--gateway', '203.0.113.1', '--no-persist', '--confirm-within', '60');
    assert.is(a.status, 0, a.stderr);
    const m = /^(net-[0-9a-f]{12}) eth0 pending: 203\.0\.113\.10\/24; confirm before \S+: phoenix-ga-ctl confirm-network \1\n$/.exec(a.stdout);
    assert.ok(m, a.stdout);
    assert.equal(ns.addrs(), [{ address: '203.0.113.10', prefix: 24, family: 4 }]);
    const s = ctl('network-status');
    assert.match(s.stdout, new RegExp(`^open: ${m![1]} eth0 pending: 203\\.0\\.113\\.10/24; \\d+ s left`), s.stdout + s.stderr);
    const c = ctl('confirm-network', m![1]);
    assert.is(c.status, 0, c.stderr);
    assert.is(c.stdout, `${m![1]} eth0 confirmed: 203.0.113.10/24\n`);
    assert.match(ctl('network-status').stdout, new RegExp(`^no open transaction\n  ${m![1]} eth0 confirmed`));
    const bad = ctl('apply-network', 'eth0');
    assert.is(bad.status, 3);
    assert.match(bad.stderr, /apply-network needs an interface and at least one ADDRESS\/PREFIX/);
  } finally {
    await agent.stop();
    ns.remove();
  }
});

test.run();

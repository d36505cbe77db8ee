// phoenix-add-ip / remove-ip / list-ips with the agent inside a network namespace (real iproute2
// on a veth interface) and a temporary root holding a Debian ifupdown or a systemd-networkd
// configuration; asserted with `ip -j addr` and on the files written.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import { Agent, startAgent, tempDir } from '../helpers/agent';
import { makeNetNs, NetNs } from '../helpers/netns';
import { QgaClient } from '../helpers/qga-client';
import { ifupdownTree, makeTree, Tree } from '../helpers/root-tree';

interface Ctx { ns: NetNs; tree: Tree; agent: Agent; c: QgaClient }

function networkdTree(): Tree {
  const t = makeTree();
  t.write('/etc/systemd/network/10-eth0.network', '[Match]\nName=eth0\n\n[Network]\nDHCP=yes\n');
  fs.mkdirSync(t.file('/etc/systemd/system/multi-user.target.wants'), { recursive: true });
  fs.symlinkSync('/lib/systemd/system/systemd-networkd.service', t.file('/etc/systemd/system/multi-user.target.wants/systemd-networkd.service'));
  return t;
}

function suiteFor(name: string, tree: () => Tree) {
  const S = suite<Ctx>(name);
  S.before(async (ctx) => {
    ctx.ns = makeNetNs();
    ctx.tree = tree();
    const dir = tempDir();
    ctx.agent = startAgent({ dir, interval: 0.5, hangTimeout: 10, wrap: ['ip', 'netns', 'exec', ctx.ns.name], args: ['--os-root', ctx.tree.root, '--state-dir', `${dir}/state`] });
    await ctx.agent.waitReady();
    ctx.c = await QgaClient.connect(ctx.agent.sock);
  });
  S.after(async (ctx) => { ctx.c.close(); await ctx.agent.stop(); ctx.ns.remove(); });
  return S;
}

const D = suiteFor('ip addresses, ifupdown', ifupdownTree);

D('add: live and persisted, and says so; again: unchanged', async ({ ns, tree, c }) => {
  const r = await c.request('phoenix-add-ip', { interface: 'eth0', address: '203.0.113.10', prefix: 24 });
  assert.equal(r.return, { interface: 'eth0', address: '203.0.113.10', prefix: 24, live: 'added', persisted: { renderer: 'ifupdown', file: '/etc/network/interfaces.d/phoenix-ga', action: 'added' } });
  assert.equal(ns.addrs(), [{ address: '203.0.113.10', prefix: 24, family: 4 }]);
  assert.match(tree.read('/etc/network/interfaces.d/phoenix-ga'), /iface eth0 inet static\n\taddress 203\.0\.113\.10\/24\n/);
  const again = await c.request('phoenix-add-ip', { interface: 'eth0', address: '203.0.113.10', prefix: 24 });
  assert.equal(again.return.live, 'unchanged');
  assert.equal(again.return.persisted.action, 'unchanged');
  assert.equal(ns.addrs().length, 1, 'no duplicate');
});

D('IPv6 is canonicalised; list shows live, persisted and no drift', async ({ ns, c }) => {
  const r = await c.request('phoenix-add-ip', { interface: 'eth0', address: '2001:DB8:0:0::0:10', prefix: 64 });
  assert.is(r.return.address, '2001:db8::10');
  assert.ok(ns.addrs().some((a) => a.address === '2001:db8::10' && a.prefix === 64));
  const l = (await c.request('phoenix-list-ips', { interface: 'eth0' })).return;
  assert.equal(l, [{ interface: 'eth0', live: ['203.0.113.10/24', '2001:db8::10/64'], renderer: 'ifupdown', persisted: ['203.0.113.10/24', '2001:db8::10/64'], kind: 'veth', real: false, driver: null, primary: [], drift: { live_only: [], persisted_only: [] } }]);
});

D('drift: an address added by hand is live only; remove takes it from both places', async ({ ns, tree, c }) => {
  ns.ip('addr', 'add', '198.51.100.7/32', 'dev', 'eth0');
  const l = (await c.request('phoenix-list-ips', { interface: 'eth0' })).return[0];
  assert.equal(l.drift, { live_only: ['198.51.100.7/32'], persisted_only: [] });
  const r = await c.request('phoenix-remove-ip', { interface: 'eth0', address: '203.0.113.10', prefix: 24 });
  assert.equal([r.return.live, r.return.persisted.action], ['removed', 'removed']);
  assert.not.ok(ns.addrs().some((a) => a.address === '203.0.113.10'));
  assert.not.match(tree.read('/etc/network/interfaces.d/phoenix-ga'), /203\.0\.113\.10/);
  const again = await c.request('phoenix-remove-ip', { interface: 'eth0', address: '203.0.113.10', prefix: 24 });
  assert.equal([again.return.live, again.return.persisted.action], ['unchanged', 'unchanged']);
});

D('strict validation: nothing reaches ip for a bad address, prefix or interface', async ({ ns, tree, c }) => {
  const before = [JSON.stringify(ns.addrs()), tree.read('/etc/network/interfaces')];
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ address: '256.1.1.1' }, /'address' is not an IPv4/], [{ address: '1.2.3' }, /'address' is not/], [{ address: '10.8' }, /'address' is not/],
    [{ address: '010.0.0.1' }, /'address' is not/], [{ address: '0x0a.0.0.1' }, /'address' is not/], [{ address: 'default' }, /'address' is not/],
    [{ address: 'fe80::1%eth0' }, /zone id/], [{ address: '127.0.0.2' }, /loopback/], [{ address: '224.0.0.5' }, /multicast/],
    [{ address: '169.254.1.1' }, /link-local/], [{ address: '0.0.0.0' }, /this network/], [{ address: '::ffff:1.2.3.4' }, /IPv4-mapped/], [{ address: 'ff02::1' }, /multicast/],
    [{ prefix: 33 }, /'prefix' must be 1 to 32/], [{ prefix: 0 }, /'prefix' is out of range/], [{ prefix: '24' }, /Invalid parameter type for 'prefix', expected: integer/],
    [{ address: '2001:db8::1', prefix: 129 }, /'prefix' is out of range/],
    [{ interface: 'eth0;reboot' }, /not an interface name/], [{ interface: '-batch' }, /not an interface name/], [{ interface: '../../etc' }, /too long|not an interface name/],
    [{ interface: 'nosuch0' }, /there is no interface 'nosuch0'/],
  ];
  for (const [over, want] of cases) {
    const r = await c.request('phoenix-add-ip', { interface: 'eth0', address: '192.0.2.50', prefix: 24, ...over });
    assert.ok(r.error, JSON.stringify(over));
    assert.match(r.error.desc, want, JSON.stringify(over));
  }
  assert.equal([JSON.stringify(ns.addrs()), tree.read('/etc/network/interfaces')], before);
});

D('the same address on another prefix is a conflict, not a second entry', async ({ ns, c }) => {
  await c.request('phoenix-add-ip', { interface: 'eth0', address: '192.0.2.60', prefix: 24 });
  const r = await c.request('phoenix-add-ip', { interface: 'eth0', address: '192.0.2.60', prefix: 16 });
  assert.match(r.error.desc, /192\.0\.2\.60 is already on eth0 as \/24/);
  assert.equal(ns.addrs().filter((a) => a.address === '192.0.2.60').length, 1);
});

D('a persist failure rolls the live change back and says so', async ({ ns, tree, c }) => {
  fs.rmSync(tree.file('/etc/network/interfaces.d/phoenix-ga'), { force: true });
  fs.symlinkSync('/etc/shadow', tree.file('/etc/network/interfaces.d/phoenix-ga'));
  const r = await c.request('phoenix-add-ip', { interface: 'eth0', address: '192.0.2.70', prefix: 24 });
  assert.match(r.error.desc, /persisting 192\.0\.2\.70\/24 failed: .*; the live address was removed again/);
  assert.not.ok(ns.addrs().some((a) => a.address === '192.0.2.70'));
  fs.rmSync(tree.file('/etc/network/interfaces.d/phoenix-ga'));
});

D.run();

const N = suiteFor('ip addresses, systemd-networkd', networkdTree);
N('add and remove through a networkd drop-in; exactly once with an idempotency key', async ({ ns, tree, c }) => {
  const req = { interface: 'eth0', address: '203.0.113.20', prefix: 28, 'idempotency-key': 'panel-op-77' };
  const r = await c.request('phoenix-add-ip', req);
  assert.equal(r.return.persisted, { renderer: 'networkd', file: '/etc/systemd/network/10-eth0.network.d/90-phoenix-ga.conf', action: 'added' });
  assert.match(tree.read('/etc/systemd/network/10-eth0.network.d/90-phoenix-ga.conf'), /\[Address\]\nAddress=203\.0\.113\.20\/28\n/);
  assert.is(tree.read('/etc/systemd/network/10-eth0.network'), '[Match]\nName=eth0\n\n[Network]\nDHCP=yes\n', "the customer's file is untouched");
  // Removed by hand; a retry with the same key does not put it back: it returns the recorded reply.
  ns.ip('addr', 'del', '203.0.113.20/28', 'dev', 'eth0');
  assert.equal((await c.request('phoenix-add-ip', req)).return, r.return);
  assert.not.ok(ns.addrs().some((a) => a.address === '203.0.113.20'));
  const conflict = await c.request('phoenix-add-ip', { ...req, prefix: 29 });
  assert.match(conflict.error.desc, /idempotency key 'panel-op-77' was already used for phoenix-add-ip with other arguments/);
});
N.run();

// phoenix-apply-network with a gateway and routes, persisted at confirmation through each renderer:
// the agent runs in a network namespace (eth0 a veth to a namespace holding 192.0.2.1) on a root tree
// of the distribution's files. Confirmed, what was written is applied from scratch by the real
// programs where they run here: Debian's ifup (unpacked, run in a fresh namespace) and netplan
// generate (test/fixtures/netcfg/nettools.sh); NetworkManager and ifcfg are checked on their files.
// Not confirmed, every file of the tree is as it was, byte for byte.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, startAgent, tempDir, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { makeTree, put, read, snapshot, type Layout } from '../fixtures/netcfg/tree';

const TOOLS = process.env.PGA_NETTOOLS ?? path.join(ROOT, '.local/nettools');
const LIBS = { LD_LIBRARY_PATH: path.join(TOOLS, 'usr/lib/x86_64-linux-gnu'), PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
const GENERATE = path.join(TOOLS, 'usr/libexec/netplan/generate');
const IFUP = path.join(TOOLS, 'sbin/ifup');

/** A namespace whose eth0 (no IPv6 duplicate detection) reaches 192.0.2.1 in a second one. */
function makeNet(): { ns: string; ip(...a: string[]): string; routes(): string[]; remove(): void } {
  const id = crypto.randomBytes(3).toString('hex');
  const ns = `pga-${id}`, peer = `pga-${id}-gw`;
  for (const n of [ns, peer]) execFileSync('ip', ['netns', 'add', n]);
  const ip = (...a: string[]) => execFileSync('ip', ['-n', ns, ...a], { encoding: 'utf8' });
  ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'gw0', 'netns', peer);
  execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.eth0.accept_dad=0']);
  ip('link', 'set', 'lo', 'up'); ip('link', 'set', 'eth0', 'up');
  execFileSync('ip', ['-n', peer, 'link', 'set', 'gw0', 'up']);
  execFileSync('ip', ['-n', peer, 'addr', 'add', '192.0.2.1/24', 'dev', 'gw0']);
  return {
    ns, ip,
    routes: () => ['-4', '-6'].flatMap((f) => ip(f, 'route', 'show', 'dev', 'eth0').split('\n'))
      .filter((l) => l && !/proto (kernel|ra)|^fe80|^multicast/.test(l)).map((l) => l.replace(/\s+(pref medium|onlink|proto boot|proto static)/g, '').trim()).sort(),
    remove() { for (const n of [ns, peer]) { try { execFileSync('ip', ['netns', 'del', n]); } catch { /* gone */ } } },
  };
}

const NM = '/etc/NetworkManager/system-connections/eth0.nmconnection';
const IFCFG = '/etc/sysconfig/network-scripts/ifcfg-eth0';
/** Each layout with eth0 static at 192.0.2.10/24 where a customer would have it, and no gateway of the customer's. */
const LAYOUTS: Array<[Layout, (root: string) => void]> = [
  ['debian12-ifupdown', (r) => put(r, '/etc/network/interfaces', read(r, '/etc/network/interfaces').replace('iface eth0 inet dhcp', 'iface eth0 inet static\n\taddress 192.0.2.10/24'))],
  ['ubuntu2404-netplan', () => undefined],
  ['networkd', (r) => put(r, '/etc/systemd/network/10-eth0.network', read(r, '/etc/systemd/network/10-eth0.network').replace('Address=203.0.113.10/24\nGateway=203.0.113.1\n', 'Address=192.0.2.10/24\n'))],
  ['rhel9-nm', (r) => put(r, NM, read(r, NM).replace('[ipv4]\nmethod=auto', '[ipv4]\naddress1=192.0.2.10/24\nmethod=manual'), 0o600)],
  ['rhel7-ifcfg', (r) => put(r, IFCFG, read(r, IFCFG).replace(/^(GATEWAY|IPV6_DEFAULTGW)=.*\n/gm, ''))],
];

const APPLY = {
  interface: 'eth0', addresses: ['192.0.2.10/24', '2001:db8:5::5/64'], gateway: '192.0.2.1',
  routes: [{ to: '10.9.0.0/16', via: '192.0.2.9', metric: 50 }, { to: 'default', via: '2001:db8:5::1' }, { to: '2001:db8:99::/48', via: '2001:db8:5::9' }],
};
const LIVE = ['10.9.0.0/16 via 192.0.2.9 metric 50', '2001:db8:99::/48 via 2001:db8:5::9 metric 1024', 'default via 192.0.2.1', 'default via 2001:db8:5::1 metric 1024'];

/** An agent in its own namespace on LAYOUT's tree; F gets its client; everything is removed after. */
async function withAgent(layout: Layout, prepare: (root: string) => void, f: (c: QgaClient, root: string, net: ReturnType<typeof makeNet>) => Promise<void>): Promise<void> {
  const net = makeNet();
  const root = makeTree(layout);
  prepare(root);
  net.ip('addr', 'add', '192.0.2.10/24', 'dev', 'eth0');
  net.ip('route', 'add', 'default', 'via', '192.0.2.1', 'dev', 'eth0');
  const dir = tempDir();
  const agent = startAgent({ dir, interval: 0.5, hangTimeout: 10, wrap: ['ip', 'netns', 'exec', net.ns], args: ['--os-root', root] });
  let c: QgaClient | null = null;
  try {
    await agent.waitReady(20_000);
    c = await QgaClient.connect(agent.sock);
    await f(c, root, net);
  } finally {
    c?.close();
    await agent.stop();
    net.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const S = suite('network transactions: gateway and routes persisted');

S('not confirmed: reverted live, and every renderer\'s files are unchanged byte for byte', async () => {
  await Promise.all(LAYOUTS.map(([layout, prepare]) => withAgent(layout, prepare, async (c, root, net) => {
    const before = snapshot(root);
    const r = await c.request('phoenix-apply-network', { ...APPLY, 'confirm-within': 10 });
    assert.ok(r.return, `${layout}: ${JSON.stringify(r)}`);
    assert.equal(net.routes(), LIVE, `${layout}: applied live`);
    await waitFor(`${layout}: the revert`, async () => (await c.request('phoenix-network-status')).return.history[0]?.state === 'reverted', 40_000, 200);
    assert.equal(net.routes(), ['default via 192.0.2.1'], layout);
    assert.equal(snapshot(root), before, `${layout}: files unchanged`);
  })));
});

/** Applies and confirms APPLY; returns what was persisted. */
async function confirmed(c: QgaClient, layout: string): Promise<Array<{ renderer: string; file: string; action: string; route?: string }>> {
  const r = await c.request('phoenix-apply-network', { ...APPLY, 'confirm-within': 60 });
  assert.ok(r.return, `${layout}: ${JSON.stringify(r)}`);
  const ok = await c.request('phoenix-confirm-network', { id: r.return.id });
  assert.is(ok.return?.state, 'confirmed', `${layout}: ${JSON.stringify(ok)}`);
  return ok.return.confirmed.persisted;
}

S('ifupdown: confirmed, the real ifup brings up the addresses, gateway and routes in a fresh namespace', async () => {
  const [layout, prepare] = LAYOUTS[0];
  await withAgent(layout, prepare, async (c, root) => {
    const persisted = await confirmed(c, layout);
    assert.equal(persisted.filter((p) => p.route).map((p) => `${p.action} ${p.route}`), ['added default via 192.0.2.1', 'added 10.9.0.0/16 via 192.0.2.9 metric 50', 'added default via 2001:db8:5::1', 'added 2001:db8:99::/48 via 2001:db8:5::9']);
    // From scratch: a new namespace, nothing on eth0, the tree's configuration (its paths made absolute).
    const fresh = makeNet();
    try {
      const main = path.join(root, 'interfaces.test');
      fs.writeFileSync(main, read(root, '/etc/network/interfaces').replace('source /etc/', `source ${root}/etc/`));
      fs.mkdirSync(path.join(root, 'state'));
      const up = spawnSync('ip', ['netns', 'exec', fresh.ns, IFUP, '--no-scripts', '-i', main, '--state-dir', path.join(root, 'state'), '--allow', 'hotplug', 'eth0'], { encoding: 'utf8', env: LIBS });
      assert.is(up.status, 0, up.stdout + up.stderr);
      assert.equal(fresh.routes(), LIVE);
      assert.match(fresh.ip('addr', 'show', 'dev', 'eth0'), /inet 192\.0\.2\.10\/24 .*\n[^]*inet6 2001:db8:5::5\/64/);
    } finally {
      fresh.remove();
    }
  });
});

S('netplan: confirmed, netplan generate renders the gateway and routes for networkd, without a warning', async () => {
  const [layout, prepare] = LAYOUTS[1];
  await withAgent(layout, prepare, async (c, root) => {
    await confirmed(c, layout);
    const r = spawnSync(GENERATE, ['--root-dir', root], { encoding: 'utf8', env: LIBS });
    assert.equal([r.status, r.stdout + r.stderr], [0, '']);
    const out = read(root, '/run/systemd/network/10-netplan-eth0.network');
    for (const section of ['Destination=0.0.0.0/0\nGateway=192.0.2.1\n', 'Destination=10.9.0.0/16\nGateway=192.0.2.9\nMetric=50\n', 'Destination=::/0\nGateway=2001:db8:5::1\n', 'Destination=2001:db8:99::/48\nGateway=2001:db8:5::9\n']) {
      assert.ok(out.includes(`[Route]\n${section}`), `${section} in\n${out}`);
    }
    // 192.0.2.10 was live before: a transaction persists what it changed (cloud-init's DHCP stays).
    assert.match(out, 'DHCP=yes\nLinkLocalAddressing=ipv6\nAddress=2001:db8:5::5/64\n');
  });
});

S('NetworkManager, ifcfg and networkd: confirmed, the lines are in the files they read', async () => {
  const want: Record<string, Array<[string, string]>> = {
    'rhel9-nm': [[NM, '[ipv4]\naddress1=192.0.2.10/24\ngateway=192.0.2.1\nroute1=10.9.0.0/16,192.0.2.9,50\n'], [NM, 'address1=2001:db8:5::5/64\ngateway=2001:db8:5::1\nroute1=2001:db8:99::/48,2001:db8:5::9\n']],
    'rhel7-ifcfg': [[IFCFG, 'GATEWAY="192.0.2.1"\nIPV6_DEFAULTGW="2001:db8:5::1"\n'], ['/etc/sysconfig/network-scripts/route-eth0', '10.9.0.0/16 via 192.0.2.9 dev eth0 metric 50\n'],
      ['/etc/sysconfig/network-scripts/route6-eth0', '2001:db8:99::/48 via 2001:db8:5::9 dev eth0\n']],
    networkd: [['/etc/systemd/network/10-eth0.network.d/90-phoenix-ga.conf', '[Address]\nAddress=2001:db8:5::5/64\n\n[Route]\nGateway=192.0.2.1\n\n[Route]\nDestination=10.9.0.0/16\nGateway=192.0.2.9\nMetric=50\n\n[Route]\nGateway=2001:db8:5::1\n\n[Route]\nDestination=2001:db8:99::/48\nGateway=2001:db8:5::9\n']],
  };
  for (const [layout, prepare] of LAYOUTS.filter(([l]) => want[l])) {
    await withAgent(layout, prepare, async (c, root) => {
      await confirmed(c, layout);
      for (const [file, text] of want[layout]) assert.ok(read(root, file).includes(text), `${layout}: ${JSON.stringify(text)} in\n${read(root, file)}`);
    });
  }
});

S('the customer\'s gateway in a netplan file we may not edit: the confirmation is refused and the files are put back byte for byte', async () => {
  const cloud = '/etc/netplan/50-cloud-init.yaml';
  await withAgent('ubuntu2404-netplan', (r) => put(r, cloud, read(r, cloud).replace('dhcp4: true', 'addresses: [192.0.2.10/24]\n            routes: [{to: default, via: 192.0.2.254}]'), 0o600), async (c, root) => {
    const before = snapshot(root);
    const r = await c.request('phoenix-apply-network', { ...APPLY, 'confirm-within': 60 });
    assert.ok(r.return, JSON.stringify(r));
    const no = await c.request('phoenix-confirm-network', { id: r.return.id });
    assert.match(no.error?.desc, /not confirmed: persisting failed: netplan: the route default via 192\.0\.2\.254 of eth0 is configured in \/etc\/netplan\/50-cloud-init\.yaml .*refusing to edit it.*; restored \/etc\/netplan\/90-phoenix-ga\.yaml; the change stays live/);
    assert.equal(snapshot(root), before);
  });
});

S.run();

// Gateways and static routes through each renderer, on the distributions' own files: added where the
// renderer keeps them, listed, unchanged when asked again, removed to the original bytes; a route of
// the customer's in a file we may not edit is refused, never rewritten.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSystem } from '../../../agent/os/system';
import { renderers, type Address, type PersistRoute, type Renderer, type RendererName } from '../../../agent/net/persist';
import { makeTree, put, read, snapshot, type Layout } from '../../fixtures/netcfg/tree';

const by = (name: RendererName): Renderer => renderers.find((r) => r.name === name)!;
const addrs: Address[] = [
  { iface: 'eth0', address: '198.51.100.5', prefix: 24, family: 4 },
  { iface: 'eth0', address: '2001:db8:5::5', prefix: 64, family: 6 },
];
const gw4: PersistRoute = { iface: 'eth0', family: 4, to: 'default', via: '198.51.100.1' };
const gw6: PersistRoute = { iface: 'eth0', family: 6, to: 'default', via: '2001:db8:5::1' };
const net4: PersistRoute = { iface: 'eth0', family: 4, to: '10.9.0.0/16', via: '198.51.100.9', metric: 50 };
const host6: PersistRoute = { iface: 'eth0', family: 6, to: '2001:db8:99::7', via: '2001:db8:5::9' };
const ROUTES = [gw4, gw6, net4, host6];

const NM = '/etc/NetworkManager/system-connections/eth0.nmconnection';
const IFCFG = '/etc/sysconfig/network-scripts/ifcfg-eth0';
const NETWORKD = '/etc/systemd/network/10-eth0.network';

/** Each layout without a gateway of the customer's, so ours can be added; and the file ours go to. */
const CASES: Array<{ layout: Layout; renderer: RendererName; prepare(root: string): void; file: string; expect: string[] }> = [
  { layout: 'ubuntu2404-netplan', renderer: 'netplan', prepare: () => undefined, file: '/etc/netplan/90-phoenix-ga.yaml',
    expect: ['      routes:\n        - to: "default"\n          via: "198.51.100.1"\n', '        - to: "10.9.0.0/16"\n          via: "198.51.100.9"\n          metric: 50\n', '        - to: "2001:db8:99::7/128"\n']},
  { layout: 'networkd', renderer: 'networkd', prepare: (r) => put(r, NETWORKD, read(r, NETWORKD).replace('Gateway=203.0.113.1\n', '')), file: '/etc/systemd/network/10-eth0.network.d/90-phoenix-ga.conf',
    expect: ['[Route]\nGateway=198.51.100.1\n', '[Route]\nDestination=10.9.0.0/16\nGateway=198.51.100.9\nMetric=50\n', '[Route]\nGateway=2001:db8:5::1\n'] },
  { layout: 'debian12-ifupdown', renderer: 'ifupdown', prepare: () => undefined, file: '/etc/network/interfaces.d/phoenix-ga',
    expect: ['iface eth0 inet manual\n\tup ip -4 route replace default via 198.51.100.1 dev eth0 onlink\n\tup ip -4 route replace 10.9.0.0/16 via 198.51.100.9 dev eth0 metric 50 onlink\n', 'iface eth0 inet6 manual\n\tup ip -6 route replace default via 2001:db8:5::1 dev eth0 onlink\n'] },
  { layout: 'rhel9-nm', renderer: 'networkmanager', prepare: () => undefined, file: NM,
    expect: ['[ipv4]\naddress1=198.51.100.5/24\ngateway=198.51.100.1\nroute1=10.9.0.0/16,198.51.100.9,50\nmethod=auto\n', '[ipv6]\naddress1=2001:db8:5::5/64\ngateway=2001:db8:5::1\nroute1=2001:db8:99::7/128,2001:db8:5::9\naddr-gen-mode=eui64\n'] },
  { layout: 'rhel7-ifcfg', renderer: 'ifcfg', prepare: (r) => put(r, IFCFG, read(r, IFCFG).replace(/^(GATEWAY|IPV6_DEFAULTGW)=.*\n/gm, '')), file: IFCFG,
    expect: ['GATEWAY="198.51.100.1"\nIPV6_DEFAULTGW="2001:db8:5::1"\n'] },
];

for (const c of CASES) {
  test(`${c.renderer}: adds, lists, keeps and removes gateways and routes; the tree ends as it began`, () => {
    const root = makeTree(c.layout);
    c.prepare(root);
    const sys = createSystem(root);
    const r = by(c.renderer);
    const before = snapshot(root);
    for (const a of addrs) r.ensure(sys, a, true);
    for (const route of ROUTES) assert.is(r.ensureRoute(sys, route, true).action, 'added', `${c.renderer} ${route.to}`);
    const text = read(root, c.file);
    for (const e of c.expect) assert.ok(text.includes(e), `${c.renderer}: ${JSON.stringify(e)} in\n${text}`);
    if (c.renderer === 'ifcfg') {
      assert.is(read(root, '/etc/sysconfig/network-scripts/route-eth0'), '10.9.0.0/16 via 198.51.100.9 dev eth0 metric 50\n');
      assert.is(read(root, '/etc/sysconfig/network-scripts/route6-eth0'), '2001:db8:99::7/128 via 2001:db8:5::9 dev eth0\n');
    }
    for (const route of ROUTES) assert.is(r.ensureRoute(sys, route, true).action, 'unchanged');
    // Read back as written: the same routes, IPv6's default metric written or not.
    const listed = r.listRoutes(sys, 'eth0');
    for (const route of ROUTES) assert.ok(listed.some((l) => JSON.stringify(l) === JSON.stringify(route)), `${c.renderer}: ${JSON.stringify(route)} in ${JSON.stringify(listed)}`);
    assert.is(r.ensureRoute(sys, { ...gw6, metric: 1024 }, true).action, 'unchanged', 'metric 1024 is the IPv6 default');
    for (const route of ROUTES) assert.is(r.ensureRoute(sys, route, false).action, 'removed');
    for (const route of ROUTES) assert.is(r.ensureRoute(sys, route, false).action, 'unchanged');
    for (const a of addrs) r.ensure(sys, a, false);
    assert.equal(snapshot(root), before);
  });
}

test('a gateway of the customer\'s in a file we may not edit: another one for the same metric, or its removal, is refused', () => {
  const theirs: PersistRoute = { iface: 'eth0', family: 4, to: 'default', via: '203.0.113.1' };
  const setups: Array<[Layout, RendererName, (root: string) => void, RegExp]> = [
    ['networkd', 'networkd', () => undefined, /10-eth0\.network/],
    ['ubuntu2404-netplan', 'netplan', (r) => put(r, '/etc/netplan/50-cloud-init.yaml', read(r, '/etc/netplan/50-cloud-init.yaml').replace('dhcp4: true', 'addresses: [203.0.113.5/24]\n            routes: [{to: default, via: 203.0.113.1}]'), 0o600), /50-cloud-init\.yaml/],
    ['debian12-ifupdown', 'ifupdown', (r) => put(r, '/etc/network/interfaces', read(r, '/etc/network/interfaces').replace('iface eth0 inet dhcp', 'iface eth0 inet static\n\taddress 203.0.113.5/24\n\tgateway 203.0.113.1')), /\/etc\/network\/interfaces/],
    ['rhel9-nm', 'networkmanager', (r) => put(r, NM, read(r, NM).replace('[ipv4]\n', '[ipv4]\naddress1=203.0.113.5/24,203.0.113.1\n'), 0o600), /address line address1/],
  ];
  for (const [layout, name, setup, file] of setups) {
    const root = makeTree(layout);
    setup(root);
    const sys = createSystem(root);
    const before = snapshot(root);
    const r = by(name);
    assert.ok(r.listRoutes(sys, 'eth0').some((x) => JSON.stringify(x) === JSON.stringify(theirs)), `${name}: lists the customer's gateway`);
    assert.is(r.ensureRoute(sys, theirs, true).action, 'unchanged', name);
    assert.throws(() => r.ensureRoute(sys, { ...theirs, via: '203.0.113.254' }, true), (e: Error) => /already configures default via 203\.0\.113\.1/.test(e.message) && file.test(e.message), name);
    assert.throws(() => r.ensureRoute(sys, theirs, false), (e: Error) => /refusing to edit it/.test(e.message) && file.test(e.message), name);
    // Another metric is another route: both may stand.
    assert.is(r.ensureRoute(sys, { ...theirs, via: '203.0.113.254', metric: 200 }, true).action, 'added', name);
    assert.is(r.ensureRoute(sys, { ...theirs, via: '203.0.113.254', metric: 200 }, false).action, 'removed', name);
    assert.equal(snapshot(root), before, name);
  }
});

test('NetworkManager and ifcfg keep one gateway per family: a second is refused until the first route is removed', () => {
  for (const [layout, name, file] of [['rhel9-nm', 'networkmanager', NM], ['rhel7-ifcfg', 'ifcfg', IFCFG]] as const) {
    const root = makeTree(layout);
    const sys = createSystem(root);
    const r = by(name);
    r.ensure(sys, addrs[0], true);
    if (name === 'networkmanager') r.ensureRoute(sys, { ...gw4, via: '198.51.100.254' }, true);
    const old: PersistRoute = { ...gw4, via: name === 'ifcfg' ? '203.0.113.1' : '198.51.100.254' };
    assert.throws(() => r.ensureRoute(sys, gw4, true), /remove that route first/, name);
    assert.is(r.ensureRoute(sys, old, false).action, 'removed', name);
    assert.is(r.ensureRoute(sys, gw4, true).action, 'added', name);
    assert.ok(read(root, file).includes(name === 'ifcfg' ? 'GATEWAY="198.51.100.1"' : 'gateway=198.51.100.1'), name);
  }
});

test('NetworkManager: a default route in a profile without a static address is a routeN= line (NM takes no gateway= there)', () => {
  const root = makeTree('rhel9-nm');
  const sys = createSystem(root);
  const before = snapshot(root);
  assert.is(by('networkmanager').ensureRoute(sys, gw4, true).action, 'added');
  assert.match(read(root, NM), '[ipv4]\nroute1=0.0.0.0/0,198.51.100.1\nmethod=auto\n');
  assert.equal(by('networkmanager').listRoutes(sys, 'eth0'), [gw4]);
  assert.is(by('networkmanager').ensureRoute(sys, gw4, false).action, 'removed');
  assert.equal(snapshot(root), before);
});

test.run();

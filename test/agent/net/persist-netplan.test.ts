// netplan persistence beside Ubuntu 24.04 cloud-init's 50-cloud-init.yaml.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { createSystem } from '../../../agent/os/system';
import { netplan } from '../../../agent/net/persist/netplan';
import { PersistError, type Address } from '../../../agent/net/persist';
import { makeTree, put, read, snapshot, stat } from '../../fixtures/netcfg/tree';

const OURS = '/etc/netplan/90-phoenix-ga.yaml';
const CLOUD = '/etc/netplan/50-cloud-init.yaml';
const v4: Address = { iface: 'eth0', address: '192.0.2.10', prefix: 24, family: 4 };
const v6: Address = { iface: 'eth0', address: '2001:db8::10', prefix: 64, family: 6 };
const HEAD = `# Written by phoenix-ga: addresses and routes set through the agent; netplan appends them to the
# same definition's lists in the other files. The agent rewrites this file; edit those instead.
network:
  version: 2
`;

test('adds, keeps, lists and removes v4 and v6 in 90-phoenix-ga.yaml (0600); the tree ends as it began', () => {
  const root = makeTree('ubuntu2404-netplan');
  const sys = createSystem(root);
  const before = snapshot(root);
  assert.equal(netplan.ensure(sys, v4, true), { renderer: 'netplan', file: OURS, action: 'added' });
  assert.equal(netplan.ensure(sys, v6, true), { renderer: 'netplan', file: OURS, action: 'added' });
  assert.is(read(root, OURS), HEAD + '  ethernets:\n    eth0:\n      addresses:\n        - "192.0.2.10/24"\n        - "2001:db8::10/64"\n');
  const st = stat(root, OURS);
  assert.is(st.mode & 0o7777, 0o600);
  assert.is(st.uid, process.getuid!());
  assert.equal(netplan.ensure(sys, v6, true), { renderer: 'netplan', file: OURS, action: 'unchanged' });
  assert.equal(netplan.ensure(sys, v4, true).action, 'unchanged');
  assert.is(stat(root, OURS).ino, st.ino);
  assert.equal(netplan.list(sys, 'eth0'), [v4, v6]);
  const during = snapshot(root);
  delete during[OURS];
  assert.equal(during, before);
  assert.equal(netplan.ensure(sys, v4, false), { renderer: 'netplan', file: OURS, action: 'removed' });
  assert.is(read(root, OURS), HEAD + '  ethernets:\n    eth0:\n      addresses:\n        - "2001:db8::10/64"\n');
  assert.equal(netplan.ensure(sys, v6, false).action, 'removed');
  assert.equal(netplan.ensure(sys, v6, false), { renderer: 'netplan', file: OURS, action: 'unchanged' });
  assert.equal(snapshot(root), before);
});

test('the customer\'s addresses (flow list, mapping form) are listed, not duplicated, not removed', () => {
  const root = makeTree('ubuntu2404-netplan');
  put(root, CLOUD, read(root, CLOUD).replace('            dhcp4: true\n',
    '            addresses: [203.0.113.5/24, "2001:DB8:5::5/64"]\n            dhcp4: true\n'), 0o600);
  put(root, '/etc/netplan/60-extra.yaml', 'network:\n  version: 2\n  ethernets:\n    eth0:\n      addresses:\n        - 198.51.100.9/28:\n            label: eth0:web\n', 0o600);
  const sys = createSystem(root);
  const before = snapshot(root);
  assert.equal(netplan.list(sys, 'eth0').map((a) => `${a.address}/${a.prefix}`), ['203.0.113.5/24', '2001:db8:5::5/64', '198.51.100.9/28']);
  assert.equal(netplan.ensure(sys, { iface: 'eth0', address: '2001:db8:5::5', prefix: 64, family: 6 }, true),
    { renderer: 'netplan', file: CLOUD, action: 'unchanged' });
  assert.throws(() => netplan.ensure(sys, { iface: 'eth0', address: '198.51.100.9', prefix: 28, family: 4 }, false),
    (e: Error) => e instanceof PersistError && e.file === '/etc/netplan/60-extra.yaml' && /refusing to edit it/.test(e.message));
  assert.equal(snapshot(root), before);
});

test('writes under the definition\'s own type and ID (a VLAN named by set-name)', () => {
  const root = makeTree('ubuntu2404-netplan');
  put(root, '/etc/netplan/70-vlan.yaml', 'network:\n  version: 2\n  vlans:\n    vlan.100:\n      id: 100\n      link: eth0\n      dhcp4: false\n', 0o600);
  put(root, '/etc/netplan/71-priv.yaml', 'network:\n  version: 2\n  ethernets:\n    private:\n      match: {macaddress: "fa:16:3e:00:00:02"}\n      set-name: ens4\n', 0o600);
  const sys = createSystem(root);
  netplan.ensure(sys, { iface: 'vlan.100', address: '10.100.0.2', prefix: 24, family: 4 }, true);
  netplan.ensure(sys, { iface: 'ens4', address: '10.0.0.2', prefix: 16, family: 4 }, true);
  assert.is(read(root, OURS), HEAD + '  vlans:\n    vlan.100:\n      addresses:\n        - "10.100.0.2/24"\n'
    + '  ethernets:\n    private:\n      addresses:\n        - "10.0.0.2/16"\n');
  assert.equal(netplan.list(sys, 'ens4'), [{ iface: 'ens4', address: '10.0.0.2', prefix: 16, family: 4 }]);
});

test('refused: an undefined interface, a definition matched by pattern, a symbolic link at our file', () => {
  const root = makeTree('ubuntu2404-netplan');
  const sys = createSystem(root);
  assert.throws(() => netplan.ensure(sys, { ...v4, iface: 'eth1' }, true), /eth1 is not defined in any netplan file/);
  put(root, '/etc/netplan/60-all.yaml', 'network:\n  version: 2\n  ethernets:\n    all-en:\n      match:\n        name: "en*"\n      dhcp4: true\n', 0o600);
  assert.throws(() => netplan.ensure(sys, { ...v4, iface: 'ens3' }, true), /matches the name pattern "en\*"/);
  const outside = makeTree();
  put(outside, '/victim', 'keep\n');
  fs.symlinkSync(path.join(outside, 'victim'), path.join(root, OURS.slice(1)));
  const before = snapshot(root);
  assert.throws(() => netplan.ensure(sys, v4, true), (e: Error) => e instanceof PersistError && /90-phoenix-ga.yaml is a symbolic link; refusing/.test(e.message));
  assert.is(read(outside, '/victim'), 'keep\n');
  assert.equal(snapshot(root), before);
});

// YAML reads a plain null, ~, true, yes, on or 1.0 as a null, a boolean or a number, not a name;
// netplan itself takes every definition ID as text. Both forms of the customer's file are read as
// netplan reads them, and ours always says such an ID in quotes.
test('IDs that YAML would read as null, booleans or numbers are quoted in our file and read back as names', () => {
  for (const id of ['null', 'NULL', '~', 'true', 'False', 'yes', 'on', 'y', '1.0', '0x1f', '012', '.inf']) {
    for (const quoted of [false, true]) {
      const root = makeTree('ubuntu2404-netplan');
      put(root, '/etc/netplan/70-odd.yaml', `network:\n  version: 2\n  ethernets:\n    ${quoted ? JSON.stringify(id) : id}:\n      match: {name: "ens5"}\n      dhcp4: true\n`, 0o600);
      const sys = createSystem(root);
      const a: Address = { iface: 'ens5', address: '10.5.0.2', prefix: 24, family: 4 };
      const b: Address = { ...a, address: '10.5.0.3' };
      netplan.ensure(sys, a, true);
      netplan.ensure(sys, b, true);
      const what = `${id} (${quoted ? 'quoted' : 'plain'} in the customer's file)`;
      assert.is(read(root, OURS), HEAD + `  ethernets:\n    ${JSON.stringify(id)}:\n      addresses:\n        - "10.5.0.2/24"\n        - "10.5.0.3/24"\n`, what);
      assert.equal(netplan.list(sys, 'ens5'), [a, b], what);
      assert.equal(netplan.ensure(sys, a, false).action, 'removed', what);
      assert.equal(netplan.list(sys, 'ens5'), [b], what);
    }
  }
});

test.run();

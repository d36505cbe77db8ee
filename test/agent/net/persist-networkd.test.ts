// systemd-networkd persistence: a drop-in beside a static .network file for eth0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { createSystem } from '../../../agent/os/system';
import { networkd } from '../../../agent/net/persist/networkd';
import { type Address } from '../../../agent/net/persist';
import { makeTree, put, read, snapshot, stat } from '../../fixtures/netcfg/tree';

const DIR = '/etc/systemd/network/10-eth0.network.d';
const OURS = `${DIR}/90-phoenix-ga.conf`;
const v4: Address = { iface: 'eth0', address: '192.0.2.10', prefix: 24, family: 4 };
const v6: Address = { iface: 'eth0', address: '2001:db8::10', prefix: 64, family: 6 };
const customer: Address = { iface: 'eth0', address: '203.0.113.10', prefix: 24, family: 4 };

test('adds, keeps, lists and removes v4 and v6 as [Address] sections of a drop-in; the tree ends as it began', () => {
  const root = makeTree('networkd');
  const sys = createSystem(root);
  const before = snapshot(root);
  assert.equal(networkd.ensure(sys, v4, true), { renderer: 'networkd', file: OURS, action: 'added' });
  assert.equal(networkd.ensure(sys, v6, true), { renderer: 'networkd', file: OURS, action: 'added' });
  assert.is(read(root, OURS), `# Written by phoenix-ga: addresses and routes set through the agent for 10-eth0.network.
# The agent rewrites this file.
[Address]
Address=192.0.2.10/24

[Address]
Address=2001:db8::10/64
`);
  const st = stat(root, OURS);
  assert.equal([st.mode & 0o7777, st.uid, stat(root, DIR).mode & 0o7777], [0o644, process.getuid!(), 0o755]);
  assert.equal(networkd.ensure(sys, v4, true), { renderer: 'networkd', file: OURS, action: 'unchanged' });
  assert.equal(networkd.ensure(sys, v6, true).action, 'unchanged');
  assert.is(stat(root, OURS).ino, st.ino);
  assert.equal(networkd.list(sys, 'eth0'), [customer, v4, v6]);
  assert.equal(networkd.ensure(sys, customer, true), { renderer: 'networkd', file: '/etc/systemd/network/10-eth0.network', action: 'unchanged' });
  assert.throws(() => networkd.ensure(sys, customer, false), /configured in \/etc\/systemd\/network\/10-eth0.network .*refusing to edit it/);
  assert.equal(networkd.ensure(sys, v4, false), { renderer: 'networkd', file: OURS, action: 'removed' });
  assert.equal(networkd.ensure(sys, v6, false), { renderer: 'networkd', file: OURS, action: 'removed' });
  assert.equal(networkd.ensure(sys, v6, false).action, 'unchanged');
  // Our file and the directory made for it are gone.
  assert.equal(snapshot(root), before);
});

test('the file networkd applies: first match by name across /etc, /run and /usr/lib; others\' drop-ins are read', () => {
  const root = makeTree('networkd');
  fs.renameSync(path.join(root, 'etc/systemd/network/10-eth0.network'), path.join(root, 'usr/lib/systemd/network/10-eth0.network'));
  // Same name in /run hides the /usr/lib file; a file matching by Type= only cannot be told and is passed over.
  put(root, '/run/systemd/network/10-eth0.network', '[Match]\nName=eth1 eth0\n\n[Network]\nDHCP=yes\n');
  put(root, '/etc/systemd/network/05-wifi.network', '[Match]\nType=wlan\n\n[Network]\nDHCP=yes\n');
  put(root, '/usr/lib/systemd/network/10-eth0.network.d/50-extra.conf', '[Network]\nAddress=198.51.100.3/32\n');
  const sys = createSystem(root);
  assert.equal(networkd.list(sys, 'eth0'), [{ iface: 'eth0', address: '198.51.100.3', prefix: 32, family: 4 }]);
  networkd.ensure(sys, v4, true);
  assert.match(read(root, OURS), 'for 10-eth0.network.\n');
  assert.equal(networkd.list(sys, 'eth0').length, 2);
});

test('the drop-in directory is 0755 whatever the umask; list() also reads a file that matches by pattern', () => {
  const root = makeTree('networkd');
  const sys = createSystem(root);
  const umask = process.umask(0o077);
  try { networkd.ensure(sys, v4, true); } finally { process.umask(umask); }
  assert.is(stat(root, DIR).mode & 0o7777, 0o755);
  put(root, '/etc/systemd/network/05-all.network', '[Match]\nName=e*\n\n[Network]\nAddress=198.51.100.4/30\n');
  assert.equal(networkd.list(sys, 'eth0'), [{ iface: 'eth0', address: '198.51.100.4', prefix: 30, family: 4 }]);
});

test('refused: no matching file, a file that matches by pattern, a symbolic link on the way', () => {
  const root = makeTree('networkd');
  const sys = createSystem(root);
  assert.throws(() => networkd.ensure(sys, { ...v4, iface: 'ens3' }, true), /no \.network file .* matches ens3/);
  put(root, '/etc/systemd/network/20-wired.network', '[Match]\nName=en*\n\n[Network]\nDHCP=yes\n');
  assert.throws(() => networkd.ensure(sys, { ...v4, iface: 'ens3' }, true), /20-wired.network, which matches it by a pattern/);
  const outside = makeTree();
  fs.symlinkSync(outside, path.join(root, DIR.slice(1)));
  const before = snapshot(root);
  assert.throws(() => networkd.ensure(sys, v4, true), /10-eth0.network.d is a symbolic link; refusing/);
  assert.equal(fs.readdirSync(outside), []);
  assert.equal(snapshot(root), before);
});

test.run();

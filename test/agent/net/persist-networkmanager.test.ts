// NetworkManager keyfile persistence on the profile RHEL 9 writes for eth0 (DHCP and SLAAC).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { createSystem } from '../../../agent/os/system';
import { networkmanager as nm } from '../../../agent/net/persist/networkmanager';
import { PersistError, type Address } from '../../../agent/net/persist';
import { makeTree, put, read, snapshot, stat } from '../../fixtures/netcfg/tree';

const KEYFILE = '/etc/NetworkManager/system-connections/eth0.nmconnection';
const v4: Address = { iface: 'eth0', address: '192.0.2.10', prefix: 24, family: 4 };
const v6: Address = { iface: 'eth0', address: '2001:db8::10', prefix: 64, family: 6 };
const STATIC = `[connection]
id=eth0
uuid=8a1f33c2-4a47-4b8e-a3a4-1f2d0c1e9b77
type=ethernet
interface-name=eth0

[ethernet]

[ipv4]
address1=203.0.113.30/24,203.0.113.1
address2=203.0.113.31/24
dns=203.0.113.53;
method=manual

[ipv6]
addr-gen-mode=default
method=disabled

[proxy]
`;

test('adds addressN lines to a method=auto profile, keeps mode and owner, and removes them to the original bytes', () => {
  const root = makeTree('rhel9-nm');
  fs.chownSync(path.join(root, KEYFILE), 1234, 1234);
  const sys = createSystem(root);
  const original = read(root, KEYFILE);
  const before = snapshot(root);
  assert.equal(nm.ensure(sys, v4, true), { renderer: 'networkmanager', file: KEYFILE, action: 'added' });
  assert.equal(nm.ensure(sys, v6, true), { renderer: 'networkmanager', file: KEYFILE, action: 'added' });
  assert.is(read(root, KEYFILE), original.replace('[ipv4]\n', '[ipv4]\naddress1=192.0.2.10/24\n').replace('[ipv6]\n', '[ipv6]\naddress1=2001:db8::10/64\n'));
  const st = stat(root, KEYFILE);
  assert.equal([st.mode & 0o7777, st.uid, st.gid], [0o600, 1234, 1234]);
  assert.equal(nm.ensure(sys, v4, true), { renderer: 'networkmanager', file: KEYFILE, action: 'unchanged' });
  assert.equal(nm.ensure(sys, v6, true).action, 'unchanged');
  assert.is(stat(root, KEYFILE).ino, st.ino);
  assert.equal(nm.list(sys, 'eth0'), [v4, v6]);
  const during = snapshot(root);
  delete during[KEYFILE];
  const without = { ...before };
  delete without[KEYFILE];
  assert.equal(during, without);
  assert.equal(nm.ensure(sys, v6, false), { renderer: 'networkmanager', file: KEYFILE, action: 'removed' });
  assert.equal(nm.ensure(sys, v4, false), { renderer: 'networkmanager', file: KEYFILE, action: 'removed' });
  assert.equal(nm.ensure(sys, v4, false).action, 'unchanged');
  assert.equal(snapshot(root), before);
});

test('a static profile: numbering goes on, the gateway line and method=disabled are refused', () => {
  const root = makeTree('rhel9-nm');
  put(root, KEYFILE, STATIC, 0o600);
  const sys = createSystem(root);
  assert.equal(nm.list(sys, 'eth0').map((a) => `${a.address}/${a.prefix}`), ['203.0.113.30/24', '203.0.113.31/24']);
  nm.ensure(sys, v4, true);
  assert.is(read(root, KEYFILE), STATIC.replace('address2=203.0.113.31/24\n', 'address2=203.0.113.31/24\naddress3=192.0.2.10/24\n'));
  nm.ensure(sys, v4, false);
  assert.is(read(root, KEYFILE), STATIC);
  assert.throws(() => nm.ensure(sys, { ...v4, address: '203.0.113.30' }, false), /carries the gateway/);
  assert.throws(() => nm.ensure(sys, v6, true), (e: Error) => e instanceof PersistError && /ipv6.method=disabled/.test(e.message));
  // A second address the customer wrote is a line of its own: removing it is allowed.
  assert.equal(nm.ensure(sys, { ...v4, address: '203.0.113.31' }, false).action, 'removed');
  assert.is(read(root, KEYFILE), STATIC.replace('address2=203.0.113.31/24\n', ''));
  assert.throws(() => nm.ensure(sys, { ...v4, address: '203.0.113.30' }, false), /gateway/);
});

test('refused: no profile, two profiles for the interface, a symbolic link as the profile', () => {
  const root = makeTree('rhel9-nm');
  const sys = createSystem(root);
  assert.throws(() => nm.ensure(sys, { ...v4, iface: 'eth1' }, true), /no connection profile .* has interface-name=eth1/);
  put(root, '/etc/NetworkManager/system-connections/eth0.nmconnection~', 'ignored editor backup\ninterface-name=eth0\n', 0o600);
  put(root, '/etc/NetworkManager/system-connections/cloud-init-eth0.nmconnection', '[connection]\nid=cloud-init eth0\ninterface-name=eth0\n', 0o600);
  assert.throws(() => nm.ensure(sys, v4, true), /several connection profiles have interface-name=eth0 \(.*cloud-init-eth0.nmconnection, .*\/eth0.nmconnection\)/);
  fs.unlinkSync(path.join(root, 'etc/NetworkManager/system-connections/cloud-init-eth0.nmconnection'));
  const outside = makeTree();
  put(outside, '/eth0.nmconnection', read(root, KEYFILE));
  fs.unlinkSync(path.join(root, KEYFILE));
  fs.symlinkSync(path.join(outside, 'eth0.nmconnection'), path.join(root, KEYFILE));
  const before = snapshot(root);
  assert.throws(() => nm.ensure(sys, v4, true), /eth0.nmconnection is a symbolic link; refusing/);
  assert.not.match(read(outside, '/eth0.nmconnection'), '192.0.2.10');
  assert.equal(snapshot(root), before);
});

test.run();

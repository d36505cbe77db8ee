// RHEL ifcfg persistence on the static ifcfg-eth0 that RHEL 7's installer writes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { createSystem } from '../../../agent/os/system';
import { ifcfg } from '../../../agent/net/persist/ifcfg';
import { type Address } from '../../../agent/net/persist';
import { makeTree, put, read, snapshot, stat } from '../../fixtures/netcfg/tree';

const FILE = '/etc/sysconfig/network-scripts/ifcfg-eth0';
const v4: Address = { iface: 'eth0', address: '192.0.2.10', prefix: 24, family: 4 };
const v6: Address = { iface: 'eth0', address: '2001:db8::10', prefix: 64, family: 6 };
const a = (address: string, prefix: number): Address => ({ iface: 'eth0', address, prefix, family: address.includes(':') ? 6 : 4 });

test('adds IPADDR1/PREFIX1 and IPV6ADDR_SECONDARIES as the file quotes, and removes them to the original bytes', () => {
  const root = makeTree('rhel7-ifcfg');
  const sys = createSystem(root);
  const original = read(root, FILE);
  const before = snapshot(root);
  assert.equal(ifcfg.ensure(sys, v4, true), { renderer: 'ifcfg', file: FILE, action: 'added' });
  assert.equal(ifcfg.ensure(sys, v6, true), { renderer: 'ifcfg', file: FILE, action: 'added' });
  assert.is(read(root, FILE), original + 'IPADDR1="192.0.2.10"\nPREFIX1="24"\nIPV6ADDR_SECONDARIES="2001:db8::10/64"\n');
  const st = stat(root, FILE);
  assert.equal([st.mode & 0o7777, st.uid], [0o644, process.getuid!()]);
  assert.equal(ifcfg.ensure(sys, v4, true), { renderer: 'ifcfg', file: FILE, action: 'unchanged' });
  assert.equal(ifcfg.ensure(sys, v6, true).action, 'unchanged');
  assert.is(stat(root, FILE).ino, st.ino);
  assert.equal(ifcfg.list(sys, 'eth0'), [a('203.0.113.20', 24), v4, a('2001:db8:20::20', 64), v6]);
  assert.throws(() => ifcfg.ensure(sys, a('203.0.113.20', 24), false), /\(the primary address, IPADDR\); refusing/);
  assert.throws(() => ifcfg.ensure(sys, a('2001:db8:20::20', 64), false), /\(the primary address, IPV6ADDR\); refusing/);
  assert.equal(ifcfg.ensure(sys, v4, false), { renderer: 'ifcfg', file: FILE, action: 'removed' });
  assert.equal(ifcfg.ensure(sys, v6, false), { renderer: 'ifcfg', file: FILE, action: 'removed' });
  assert.equal(ifcfg.ensure(sys, v6, false).action, 'unchanged');
  assert.equal(snapshot(root), before);
});

test('removing from the middle renumbers the later addresses; NETMASKn and bare values are read', () => {
  const root = makeTree('rhel7-ifcfg');
  put(root, FILE, 'DEVICE=eth0\nBOOTPROTO=static\nONBOOT=yes\nIPADDR=203.0.113.20\nNETMASK=255.255.255.0\n'
    + 'IPADDR1=198.51.100.1\nPREFIX1=32\nIPADDR2=198.51.100.2\nNETMASK2=255.255.255.255\nIPADDR3=198.51.100.3\nPREFIX3=32\nGATEWAY3=198.51.100.254\n');
  const sys = createSystem(root);
  assert.equal(ifcfg.list(sys, 'eth0').map((x) => `${x.address}/${x.prefix}`), ['203.0.113.20/24', '198.51.100.1/32', '198.51.100.2/32', '198.51.100.3/32']);
  ifcfg.ensure(sys, a('198.51.100.2', 32), false);
  assert.is(read(root, FILE), 'DEVICE=eth0\nBOOTPROTO=static\nONBOOT=yes\nIPADDR=203.0.113.20\nNETMASK=255.255.255.0\n'
    + 'IPADDR1=198.51.100.1\nPREFIX1=32\nIPADDR2=198.51.100.3\nPREFIX2=32\nGATEWAY2=198.51.100.254\n');
  assert.throws(() => ifcfg.ensure(sys, a('198.51.100.3', 32), false), /its own GATEWAY2/);
  ifcfg.ensure(sys, v4, true);
  assert.match(read(root, FILE), 'GATEWAY2=198.51.100.254\nIPADDR3=192.0.2.10\nPREFIX3=24\n');
});

test('refused: DHCP without NetworkManager, IPv6 not enabled, no file, a symbolic link as the file', () => {
  const root = makeTree('rhel7-ifcfg');
  put(root, FILE, 'DEVICE="eth0"\nBOOTPROTO="dhcp"\nONBOOT="yes"\nIPV6INIT="no"\n');
  const sys = createSystem(root);
  assert.is(ifcfg.ensure(sys, v4, true).action, 'added', 'NetworkManager adds static addresses to a DHCP profile');
  ifcfg.ensure(sys, v4, false);
  fs.unlinkSync(path.join(root, 'usr/sbin/NetworkManager'));
  assert.throws(() => ifcfg.ensure(sys, v4, true), /BOOTPROTO=dhcp and NetworkManager does not manage it/);
  assert.throws(() => ifcfg.ensure(sys, v6, true), /does not enable IPv6 \(IPV6INIT=no\)/);
  assert.throws(() => ifcfg.ensure(sys, { ...v4, iface: 'eth1' }, true), /no \/etc\/sysconfig\/network-scripts\/ifcfg-eth1/);
  const outside = makeTree();
  put(outside, '/ifcfg-eth0', 'DEVICE=eth0\nBOOTPROTO=none\nIPADDR=203.0.113.20\nPREFIX=24\n');
  fs.unlinkSync(path.join(root, FILE.slice(1)));
  fs.symlinkSync(path.join(outside, 'ifcfg-eth0'), path.join(root, FILE.slice(1)));
  const before = snapshot(root);
  assert.throws(() => ifcfg.ensure(sys, v4, true), /ifcfg-eth0 is a symbolic link; refusing/);
  assert.not.match(read(outside, '/ifcfg-eth0'), '192.0.2.10');
  assert.equal(snapshot(root), before);
});

test.run();

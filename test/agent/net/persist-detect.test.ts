// Who owns the network configuration: each distribution's layout, nothing, and conflicting owners.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import { createSystem } from '../../../agent/os/system';
import { detectRenderer, renderers, type Detection } from '../../../agent/net/persist';
import { makeTree, put, read, type Layout } from '../../fixtures/netcfg/tree';

const owner = (d: Detection) => (d.ok ? d.renderer.name : `refused: ${d.reason}`);
const reason = (d: Detection) => (d.ok ? `detected ${d.renderer.name}` : d.reason);
const NM_WLAN = '[connection]\nid=home\ntype=wifi\ninterface-name=wlan0\n\n[ipv4]\nmethod=auto\n';

test('each distribution layout is detected, by its renderer alone', () => {
  const cases: Array<[Layout, string]> = [
    ['debian12-ifupdown', 'ifupdown'], ['ubuntu2404-netplan', 'netplan'], ['rhel9-nm', 'networkmanager'], ['networkd', 'networkd'], ['rhel7-ifcfg', 'ifcfg'],
  ];
  for (const [layout, name] of cases) {
    const sys = createSystem(makeTree(layout));
    assert.is(owner(detectRenderer(sys)), name, layout);
    assert.is(owner(detectRenderer(sys, 'eth0')), name, layout);
    assert.equal(renderers.filter((r) => r.detect(sys)).map((r) => r.name), [name], layout);
  }
});

test('nothing to go by: refused, naming what was looked for', () => {
  const d = detectRenderer(createSystem(makeTree()));
  assert.not.ok(d.ok);
  assert.match(reason(d), /^no network configuration found under \/tmp\/.*netplan: \/etc\/netplan\/\*\.yaml.*ifcfg: \/etc\/sysconfig\/network-scripts\/ifcfg-\*$/);
  // Files without the program (ifupdown removed, its old file left) do not count either.
  const root = makeTree('debian12-ifupdown');
  fs.unlinkSync(`${root}/sbin/ifup`);
  assert.not.ok(detectRenderer(createSystem(root)).ok);
});

test('netplan with its own output under /run, and an ifupdown file for lo only, is netplan\'s', () => {
  const root = makeTree('ubuntu2404-netplan');
  put(root, '/sbin/ifup', '');
  put(root, '/etc/network/interfaces', 'auto lo\niface lo inet loopback\n');
  assert.is(owner(detectRenderer(createSystem(root))), 'netplan');
});

test('two owners of one interface are refused, naming both', () => {
  const root = makeTree('ubuntu2404-netplan');
  put(root, '/sbin/ifup', '');
  put(root, '/etc/network/interfaces', read(makeTree('debian12-ifupdown'), '/etc/network/interfaces'));
  assert.match(reason(detectRenderer(createSystem(root))), /^eth0 is configured by both netplan \(.*\) and ifupdown \(.*\); refusing to guess/);
  const rhel8 = makeTree('rhel9-nm');
  put(rhel8, '/etc/sysconfig/network-scripts/ifcfg-eth0', 'DEVICE=eth0\nBOOTPROTO=dhcp\nONBOOT=yes\n');
  assert.match(reason(detectRenderer(createSystem(rhel8), 'eth0')), /eth0 is configured by both networkmanager .* and ifcfg/);
  // A networkd file that matches by pattern claims every name it matches.
  const deb = makeTree('debian12-ifupdown');
  put(deb, '/etc/systemd/network/20-wired.network', '[Match]\nName=e*\n\n[Network]\nDHCP=yes\n');
  put(deb, '/etc/systemd/system/multi-user.target.wants/systemd-networkd.service', '');
  assert.match(reason(detectRenderer(createSystem(deb))), /eth0 is configured by both networkd .* and ifupdown/);
});

test('owners of different interfaces: the interface decides', () => {
  const root = makeTree('debian12-ifupdown');
  put(root, '/usr/sbin/NetworkManager', '');
  put(root, '/etc/NetworkManager/system-connections/home.nmconnection', NM_WLAN, 0o600);
  const sys = createSystem(root);
  assert.match(reason(detectRenderer(sys)), /several renderers configure interfaces here: networkmanager \(wlan0\), ifupdown \(eth0\); name the interface/);
  assert.is(owner(detectRenderer(sys, 'eth0')), 'ifupdown');
  assert.is(owner(detectRenderer(sys, 'wlan0')), 'networkmanager');
  assert.match(reason(detectRenderer(sys, 'eth9')), /eth9 is not configured by any renderer here/);
});

test('a netplan file it cannot read is refused with the file and line', () => {
  const root = makeTree('ubuntu2404-netplan');
  put(root, '/etc/netplan/60-anchor.yaml', 'network:\n  ethernets:\n    eth1: &common\n      dhcp4: true\n', 0o600);
  assert.match(reason(detectRenderer(createSystem(root))), /cannot read \/etc\/netplan\/60-anchor.yaml: line 3: unsupported "&"/);
});

test.run();

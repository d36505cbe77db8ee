// ifupdown persistence on Debian 12's installer-written /etc/network/interfaces (DHCP eth0).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { createSystem } from '../../../agent/os/system';
import { ifupdown } from '../../../agent/net/persist/ifupdown';
import { PersistError, type Address } from '../../../agent/net/persist';
import { makeTree, put, read, snapshot, stat } from '../../fixtures/netcfg/tree';

const OURS = '/etc/network/interfaces.d/phoenix-ga';
const v4: Address = { iface: 'eth0', address: '192.0.2.10', prefix: 24, family: 4 };
const v6: Address = { iface: 'eth0', address: '2001:db8::10', prefix: 64, family: 6 };
const WRITTEN = `# Written by phoenix-ga: addresses and routes set through the agent; ifupdown adds these stanzas to the
# interface's own. The agent rewrites this file.
iface eth0 inet static
\taddress 192.0.2.10/24

iface eth0 inet6 static
\taddress 2001:db8::10/64
\tautoconf 1
`;

test('adds, keeps, lists and removes v4 and v6 in a file of its own; the tree ends as it began', () => {
  const root = makeTree('debian12-ifupdown');
  const sys = createSystem(root);
  const before = snapshot(root);
  assert.equal(ifupdown.ensure(sys, v4, true), { renderer: 'ifupdown', file: OURS, action: 'added' });
  assert.equal(ifupdown.ensure(sys, v6, true), { renderer: 'ifupdown', file: OURS, action: 'added' });
  assert.is(read(root, OURS), WRITTEN);
  const st = stat(root, OURS);
  assert.is(st.mode & 0o7777, 0o644);
  assert.is(st.uid, process.getuid!());
  // A second ensure rewrites nothing: same bytes, same inode (an atomic rewrite would make a new one).
  assert.equal(ifupdown.ensure(sys, v4, true), { renderer: 'ifupdown', file: OURS, action: 'unchanged' });
  assert.equal(ifupdown.ensure(sys, v6, true).action, 'unchanged');
  assert.is(stat(root, OURS).ino, st.ino);
  assert.equal(ifupdown.list(sys, 'eth0'), [v4, v6]);
  const during = snapshot(root);
  delete during[OURS];
  assert.equal(during, before, 'the customer\'s files are untouched');
  assert.equal(ifupdown.ensure(sys, v4, false), { renderer: 'ifupdown', file: OURS, action: 'removed' });
  assert.not.match(read(root, OURS), '192.0.2.10');
  assert.equal(ifupdown.ensure(sys, v6, false), { renderer: 'ifupdown', file: OURS, action: 'removed' });
  assert.equal(ifupdown.ensure(sys, v6, false), { renderer: 'ifupdown', file: OURS, action: 'unchanged' });
  assert.equal(snapshot(root), before);
});

test('autoconf follows the customer\'s inet6 stanza, so ours never switches SLAAC on or off', () => {
  const root = makeTree('debian12-ifupdown');
  fs.appendFileSync(path.join(root, 'etc/network/interfaces'), 'iface eth0 inet6 static\n\taddress 2001:db8:1::5/64\n\tgateway 2001:db8:1::1\n');
  const sys = createSystem(root);
  ifupdown.ensure(sys, v6, true);
  assert.match(read(root, OURS), '\tautoconf 0\n');
  // In ifupdown's reading order: interfaces.d is sourced at the top of /etc/network/interfaces.
  assert.equal(ifupdown.list(sys, 'eth0'), [v6, { iface: 'eth0', address: '2001:db8:1::5', prefix: 64, family: 6 }]);
});

test('the customer\'s own addresses: listed (stanzas, aliases, up lines), never duplicated, not removed', () => {
  const root = makeTree('debian12-ifupdown');
  const main = path.join(root, 'etc/network/interfaces');
  fs.writeFileSync(main, read(root, '/etc/network/interfaces').replace('iface eth0 inet dhcp\n',
    'iface eth0 inet static\n    address 203.0.113.5\n    netmask 255.255.255.0\n    gateway 203.0.113.1\n    up ip addr add 198.51.100.7/32 dev eth0\n\niface eth0:1 inet static\n    address 198.51.100.8/29\n'));
  const sys = createSystem(root);
  const before = snapshot(root);
  assert.equal(ifupdown.list(sys, 'eth0').map((a) => `${a.address}/${a.prefix}`), ['203.0.113.5/24', '198.51.100.7/32', '198.51.100.8/29']);
  assert.equal(ifupdown.ensure(sys, { iface: 'eth0', address: '203.0.113.5', prefix: 24, family: 4 }, true),
    { renderer: 'ifupdown', file: '/etc/network/interfaces', action: 'unchanged' });
  assert.throws(() => ifupdown.ensure(sys, { iface: 'eth0', address: '198.51.100.7', prefix: 32, family: 4 }, false),
    (e: Error) => e instanceof PersistError && /configured in \/etc\/network\/interfaces .*refusing/.test(e.message));
  assert.throws(() => ifupdown.ensure(sys, { iface: 'eth0', address: '203.0.113.5', prefix: 25, family: 4 }, true), /already configures it as 203\.0\.113\.5\/24/);
  assert.equal(snapshot(root), before);
});

test('refused: interfaces.d not sourced, no stanza for the interface, a symbolic link at our file', () => {
  const root = makeTree('debian12-ifupdown');
  const sys = createSystem(root);
  assert.throws(() => ifupdown.ensure(sys, { ...v4, iface: 'eth1' }, true), /no "iface eth1" stanza/);
  const outside = makeTree();
  put(outside, '/victim', 'keep\n');
  fs.symlinkSync(path.join(outside, 'victim'), path.join(root, OURS.slice(1)));
  const before = snapshot(root);
  assert.throws(() => ifupdown.ensure(sys, v4, true), /phoenix-ga is a symbolic link; refusing/);
  assert.is(read(outside, '/victim'), 'keep\n');
  assert.equal(snapshot(root), before);
  fs.unlinkSync(path.join(root, OURS.slice(1)));
  put(root, '/etc/network/interfaces', read(root, '/etc/network/interfaces').replace(/^source .*\n/m, ''));
  assert.throws(() => ifupdown.ensure(sys, v4, true), /does not source \/etc\/network\/interfaces.d/);
  put(root, '/etc/network/interfaces', 'source-directory interfaces.d\n' + read(root, '/etc/network/interfaces'));
  assert.is(ifupdown.ensure(sys, v4, true).action, 'added');
});

test.run();

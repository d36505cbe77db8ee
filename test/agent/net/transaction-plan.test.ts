// The pure parts of a network transaction: `ip route` lines read back, the deadline on the boot
// clock (a wall-clock jump moves nothing; a reboot is told apart), and the state a request leads to.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BootClock, deadlineIn, secondsLeft } from '../../../agent/net/deadline';
import { parseRoutes } from '../../../agent/net/routes';
import { checkTxnArgs, inSubnet, targetState } from '../../../agent/net/transaction-plan';

test('ip -o route lines: gateway, metric, proto, scope, src, onlink; other types and attributes skipped', () => {
  const v4 = parseRoutes('default via 192.0.2.1 proto static metric 100 onlink \n192.0.2.0/24 proto kernel scope link src 192.0.2.10 linkdown \nbroadcast 192.0.2.255 proto kernel\n10.9.0.0/16 via 192.0.2.254 mtu 1400 \n', 4);
  assert.equal(v4, [
    { family: 4, to: 'default', via: '192.0.2.1', proto: 'static', metric: 100, onlink: true },
    { family: 4, to: '192.0.2.0/24', proto: 'kernel', scope: 'link', src: '192.0.2.10' },
    { family: 4, to: '10.9.0.0/16', via: '192.0.2.254' },
  ]);
  assert.equal(parseRoutes('2001:db8::/64 proto kernel metric 256 pref medium\ndefault via fe80::1 proto ra metric 1024 expires 1798sec pref medium\n', 6), [
    { family: 6, to: '2001:db8::/64', proto: 'kernel', metric: 256 },
    { family: 6, to: 'default', via: 'fe80::1', proto: 'ra', metric: 1024 },
  ]);
});

test('deadline: only the boot clock counts; the wall clock may jump either way; another boot is told apart', () => {
  let up = 1000, wall = Date.parse('2026-01-01T00:00:00Z'), boot = 'b1';
  const clock: BootClock = { boot: () => boot, uptime: () => up, wallMs: () => wall };
  const d = deadlineIn(clock, 60);
  assert.is(d.wall, '2026-01-01T00:01:00.000Z');
  wall += 3600_000; up += 10;
  assert.is(secondsLeft(clock, d), 50, 'an hour forward on the wall clock: still 50 s');
  wall -= 7200_000; up += 45;
  assert.is(secondsLeft(clock, d), 5, 'two hours back: 5 s, not an hour more');
  up += 5;
  assert.is(secondsLeft(clock, d), 0);
  boot = 'b2'; up = 3;
  assert.is(secondsLeft(clock, d), null, 'after a reboot the boot clock says nothing');
});

test('subnets and the state a request leads to', () => {
  assert.ok(inSubnet('192.0.2.77', '192.0.2.10', 24));
  assert.not.ok(inSubnet('192.0.3.1', '192.0.2.10', 24));
  assert.ok(inSubnet('2001:db8::ff', '2001:db8::1', 64));
  assert.not.ok(inSubnet('2001:db8:1::1', '2001:db8::1', 64));
  const before = { addresses: [{ address: '192.0.2.10', prefix: 24, family: 4 as const }], routes: [{ family: 4 as const, to: 'default', via: '192.0.2.1' }, { family: 6 as const, to: 'default', via: 'fe80::1' }, { family: 4 as const, to: '10.9.0.0/16', via: '192.0.2.254' }] };
  const a = { interface: 'eth0', addresses: ['198.51.100.5/24'], gateway: '198.51.100.1', routes: [{ to: '10.8.0.0/16', via: '198.51.100.254', metric: 5 }], 'confirm-within': 60, persist: false };
  assert.equal(targetState(a, checkTxnArgs(a), before), {
    addresses: [{ address: '198.51.100.5', prefix: 24, family: 4 }],
    routes: [{ family: 6, to: 'default', via: 'fe80::1' }, { family: 4, to: 'default', via: '198.51.100.1' }, { family: 4, to: '10.8.0.0/16', via: '198.51.100.254', metric: 5 }],
  });
  // Addresses only: the routes stay, as long as their gateways stay on a subnet.
  const same = { interface: 'eth0', addresses: ['192.0.2.10/24', '203.0.113.7/24'], 'confirm-within': 60 };
  assert.equal(targetState(same, checkTxnArgs(same), before).routes, before.routes);
  const cut = { interface: 'eth0', addresses: ['198.51.100.5/24'], 'confirm-within': 60 };
  assert.throws(() => targetState(cut, checkTxnArgs(cut), before), /the route default via 192\.0\.2\.1 of eth0 would lose its gateway's subnet/);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadSettings } from '../../supervisor/settings';

const load = (text: string | null, flags: Record<string, string> = {}) =>
  loadSettings(new Map(Object.entries({ config: '/etc/pga.conf', ...flags })), () => {
    if (text === null) throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
    return text;
  });

const error = (text: string, flags: Record<string, string> = {}): string => {
  try { load(text, flags); } catch (e) { return (e as Error).message; }
  return 'no error';
};

test('a valid file is read, flags override it', () => {
  const s = load('# comment\nchannel = unix:/run/x.sock\nheartbeat = 10.0.0.1:9999\nheartbeat-interval = 2.5\nblock-rpcs = guest-exec, guest-exec-status\n', { 'vm-id': 'v-1' });
  assert.equal(s.channel, { kind: 'unix', path: '/run/x.sock' });
  assert.equal(s.heartbeat, { host: '10.0.0.1', port: 9999 });
  assert.is(s.heartbeatIntervalMs, 2500);
  assert.equal(s.blockRpcs, ['guest-exec', 'guest-exec-status']);
  assert.is(s.vmId, 'v-1');
});

test('errors name the file, the line, the key and what was expected', () => {
  assert.is(error('heartbeat-interval = fast\n'), "/etc/pga.conf:1: heartbeat-interval: expected a number from 0.05 to 3600, got 'fast'");
  assert.match(error('\n\nbogus = 1\n'), /^\/etc\/pga.conf:3: unknown key 'bogus'/);
  assert.match(error('channel = tcp:1.2.3.4\n'), /^\/etc\/pga.conf:1: channel: expected unix:/);
  assert.match(error('heartbeat = collector.example:99\n'), /heartbeat: expected IPv4:PORT or \[IPv6\]:PORT/);
  assert.match(error('worker-heap-mb = 2\n'), /worker-heap-mb: expected a number from 8 to 4096/);
  assert.match(error('run-dir = relative/dir\n'), /run-dir: expected an absolute path/);
  assert.match(error('vm-id = a b\n'), /vm-id: expected 1-64 characters/);
  assert.match(error('just words\n'), /:1: expected 'key = value'/);
  assert.match(error('vm-id = a\nvm-id = b\n'), /:2: vm-id: set twice \(first at \/etc\/pga.conf:1\)/);
  assert.match(error('allow-rpcs = guest-ping\nblock-rpcs = guest-exec\n'), /set only one of the two/);
  assert.match(error('', { 'heartbeat-interval': '0' }), /^--heartbeat-interval: heartbeat-interval: expected a number/);
});

test('crash points exist only with the test worker: --test-crash-at alone is refused', () => {
  assert.match(error('', { 'test-crash-at': 'effect:guest-ping' }), /--test-crash-at needs --test-commands/);
  assert.is(load('', { 'test-crash-at': 'effect:guest-ping', 'test-commands': '' }).testCrashAt, 'effect:guest-ping');
});

test('clock-heal: on by default with a 1-day maximum step; off, other maxima, and mistakes refused', () => {
  assert.is(load('').clockHeal, true);
  assert.is(load('').clockHealMaxStepMs, 86_400_000);
  assert.is(load('clock-heal = off\n').clockHeal, false);
  assert.is(load('clock-heal-max-step = 3600\n').clockHealMaxStepMs, 3_600_000);
  assert.is(error('clock-heal = yes\n'), "/etc/pga.conf:1: clock-heal: expected on or off, got 'yes'");
  assert.is(error('clock-heal-max-step = 1\n'), "/etc/pga.conf:1: clock-heal-max-step: expected a number from 3 to 31622400, got '1'");
});

test('regenerate-identity-on-clone: yes by default, no when set, anything else refused', () => {
  assert.is(load('').regenerateIdentity, true);
  assert.is(load('regenerate-identity-on-clone = no\n').regenerateIdentity, false);
  assert.is(load('regenerate-identity-on-clone = yes\n').regenerateIdentity, true);
  assert.is(error('regenerate-identity-on-clone = true\n'), "/etc/pga.conf:1: regenerate-identity-on-clone: expected yes or no, got 'true'");
});

test('interfaces-order: real-first by default, as-is or real-only when set, anything else refused', () => {
  assert.is(load('').interfacesOrder, 'real-first');
  assert.is(load('interfaces-order = as-is\n').interfacesOrder, 'as-is');
  assert.is(load('interfaces-order = real-only\n').interfacesOrder, 'real-only');
  assert.is(error('interfaces-order = virtio-first\n'), "/etc/pga.conf:1: interfaces-order: expected real-first, as-is or real-only, got 'virtio-first'");
});

test('an explicitly named config file must exist', () => {
  assert.throws(() => load(null), /config file \/etc\/pga.conf: ENOENT/);
});

test.run();

// The config file edit behind phoenix-set-config (a pure function): the shipped file keeps every
// comment and line it had, a key set again is changed in place with one marker above it, a key
// reset loses its line and its marker, and the result loads as the supervisor loads it.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { editConfigText, fileSources, MARK, SHOW } from '../../agent/actions/config-file';
import { KEYS, loadSettings } from '../../supervisor/settings';
import { ROOT } from '../helpers/agent';

const shipped = fs.readFileSync(path.join(ROOT, 'init/etc/phoenix-ga.conf'), 'utf8');
const load = (text: string) => loadSettings(new Map([['config', '/etc/phoenix-ga/phoenix-ga.conf']]), () => text);

test('the shipped file: new keys are appended under markers, every other line stays as it was', () => {
  const out = editConfigText(shipped, new Map([['heartbeat', '192.0.2.7:7070'], ['vm-id', 'vm-7']]), new Set(), 'T1');
  assert.ok(out.startsWith(shipped), 'the shipped text is untouched');
  assert.is(out.slice(shipped.length), `\n${MARK} T1\nheartbeat = 192.0.2.7:7070\n${MARK} T1\nvm-id = vm-7\n`);
  const s = load(out);
  assert.equal(s.heartbeat, { host: '192.0.2.7', port: 7070 });
  assert.is(s.vmId, 'vm-7');
  const src = fileSources(out, 'F');
  assert.equal(src.get('heartbeat'), { where: `F:${out.split('\n').indexOf('heartbeat = 192.0.2.7:7070') + 1}`, value: '192.0.2.7:7070', byChannel: 'T1' });
  assert.is(src.get('channel')!.byChannel, null, "the operator's own line");
});

test('set again: changed in place with one marker; an operator\'s line gets a marker; reset removes line and marker', () => {
  const once = editConfigText(shipped, new Map([['heartbeat', '192.0.2.7:7070']]), new Set(), 'T1');
  const twice = editConfigText(once, new Map([['heartbeat', '[2001:db8::7]:7070'], ['block-rpcs', 'guest-exec']]), new Set(), 'T2');
  assert.is(twice.split('\n').filter((l) => l.startsWith(MARK)).length, 2, 'one marker per key');
  assert.ok(twice.includes(`${MARK} T2\nheartbeat = [2001:db8::7]:7070\n`));
  // The shipped block-rpcs line is replaced where it was, after its comment.
  assert.ok(twice.includes(`the list.\n${MARK} T2\nblock-rpcs = guest-exec\n`));
  assert.equal(load(twice).blockRpcs, ['guest-exec']);
  const reset = editConfigText(twice, new Map(), new Set(['heartbeat', 'block-rpcs']), 'T3');
  assert.not.ok(reset.includes(MARK), 'markers go with their lines');
  assert.not.ok(/^(heartbeat|block-rpcs) =/m.test(reset));
  assert.ok(reset.includes('# heartbeat = 10.0.0.1:7070'), 'comments stay');
  assert.is(load(reset).heartbeat, null);
});

test('no file yet: a header and the keys', () => {
  const out = editConfigText(null, new Map([['heartbeat-interval', '0.5']]), new Set(), 'T');
  assert.match(out, /^# phoenix-ga configuration .*\n\n# set over the channel \(phoenix-set-config\) T\nheartbeat-interval = 0\.5\n$/);
  assert.is(load(out).heartbeatIntervalMs, 500);
});

test('phoenix-get-config shows every key the config file has', () => {
  assert.equal(Object.keys(SHOW).sort(), Object.keys(KEYS).sort());
});

test.run();

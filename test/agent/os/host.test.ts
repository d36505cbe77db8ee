// The read door on a tree and on this machine: attributes read in one go, errors that are answers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { createHost } from '../../../agent/os/host';
import { tempDir } from '../../helpers/agent';

test('readAttribute: a sysfs value as read() gives it; a file of a page or more is read whole; missing is null', () => {
  const root = tempDir('host-');
  fs.writeFileSync(path.join(root, 'small'), '52:54:00:12:34:56\n');
  const big = 'x'.repeat(4096) + 'é'.repeat(3000) + '\n';
  fs.writeFileSync(path.join(root, 'big'), big);
  const host = createHost(root);
  assert.is(host.readAttribute('/small'), '52:54:00:12:34:56\n');
  assert.is(host.readAttribute('/big'), big);
  assert.is(host.readAttribute('/missing'), null);
  const limit = Error.stackTraceLimit;
  assert.is(host.read('/missing'), null);
  assert.is(Error.stackTraceLimit, limit, 'the stack trace limit is put back');
  const live = createHost('/');
  for (const n of fs.readdirSync('/sys/class/net')) {
    for (const a of ['address', 'flags', 'ifindex']) assert.is(live.readAttribute(`/sys/class/net/${n}/${a}`), live.read(`/sys/class/net/${n}/${a}`), `${n}/${a}`);
  }
  fs.rmSync(root, { recursive: true, force: true });
});

test.run();

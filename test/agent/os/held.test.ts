// host.held: a file kept open and read from its start at each call (the statistics' /proc files).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { createHost } from '../../../agent/os/host';
import { heldReads, readCounters } from '../../../agent/stats/counters';
import { tempDir } from '../../helpers/agent';

test('a held file gives its new text at each read, past the first buffer, and null while unreadable', () => {
  const root = tempDir('held-');
  const file = path.join(root, 'counters');
  fs.writeFileSync(file, 'one\n');
  const read = createHost(root).held('/counters');
  assert.is(read(), 'one\n');
  // Rewritten in place, as the kernel makes a /proc file anew: same inode, new text.
  const big = 'x'.repeat(20_000) + '\n';
  fs.writeFileSync(file, big);
  assert.is(read(), big);
  fs.writeFileSync(file, 'short\n');
  assert.is(read(), 'short\n');
  const gone = createHost(root).held('/absent');
  assert.is(gone(), null);
  fs.writeFileSync(path.join(root, 'absent'), 'here now\n');
  assert.is(gone(), 'here now\n', 'opened again once it exists');
});

test('a /proc sequence file longer than a page reads whole through a held descriptor', () => {
  // The kernel hands out such a file a page at a time: /proc/self/maps of a Node process is far over one.
  const host = createHost('/');
  const held = host.held('/proc/self/mountinfo')();
  assert.is(held, host.read('/proc/self/mountinfo'));
  const maps = host.held('/proc/self/maps');
  const a = maps();
  assert.ok(a && a.length > 8192, `maps is ${a?.length} bytes`);
  assert.ok(a!.endsWith('\n') && a!.includes('[stack]'), 'read to the end');
});

test('counters read through held descriptors are the counters read by path', async () => {
  const host = createHost('/');
  const read = heldReads(host);
  const a = await readCounters(host, () => 0, read);
  const b = await readCounters(host, () => 0);
  assert.is(a.boot, b.boot);
  assert.equal(a.filesystems.map((f) => f.mount.mountpoint), b.filesystems.map((f) => f.mount.mountpoint));
  assert.equal(a.stat.cpus.map((c) => c.cpu), b.stat.cpus.map((c) => c.cpu));
  assert.equal(Object.keys(a.mem).sort(), Object.keys(b.mem).sort());
  assert.equal([...a.net.keys()].sort(), [...b.net.keys()].sort());
  assert.ok(a.oomKills !== null && a.uptimeS! > 0);
});

test.run();

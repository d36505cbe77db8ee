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

test('the boot id is read once; mountinfo is parsed again only when its text changes', async () => {
  const root = tempDir('held-');
  const put = (p: string, text: string) => { fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true }); fs.writeFileSync(path.join(root, p), text); };
  const mount = (id: number, minor: number, at: string) => `${id} 1 8:${minor} / ${at} rw,relatime shared:1 - ext4 /dev/sda${minor} rw\n`;
  put('/proc/sys/kernel/random/boot_id', 'boot-a\n');
  put('/proc/self/mountinfo', mount(20, 1, '/'));
  const host = createHost(root);
  const read = heldReads(host);
  const a = await readCounters(host, () => 0, read);
  put('/proc/sys/kernel/random/boot_id', 'boot-b\n');
  const b = await readCounters(host, () => 0, read);
  assert.is(b.boot, 'boot-a', 'a boot id cannot change under a running process');
  assert.is(b.filesystems[0].mount, a.filesystems[0].mount, 'the same text is not parsed again');
  put('/proc/self/mountinfo', mount(20, 1, '/') + mount(21, 2, '/data') + mount(22, 2, '/data-again'));
  const c = await readCounters(host, () => 0, read);
  assert.equal(c.filesystems.map((f) => f.mount.mountpoint), ['/', '/data']);
  assert.is((await readCounters(host, () => 0)).boot, 'boot-b', 'read by path: read anew');
});

test.run();

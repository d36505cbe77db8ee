// phoenix-ga-ctl grow-filesystem against the real agent: a mounted xfs on a loop-device disk
// whose image was enlarged; the person reads the result, each size before -> after, each step.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { ROOT, startAgent } from '../helpers/agent';
import { loopDisk } from '../helpers/loop-disk';

test('grow-filesystem: a head line with the sizes, one line per step; a missing mount point is a usage error', async () => {
  const d = loopDisk({ label: 'gpt', mib: 400, parts: [',384M'], fs: 'xfs' });
  const agent = startAgent({ interval: 0.5, hangTimeout: 30 });
  try {
    await agent.waitReady(10_000);
    d.grow(512);
    const ctl = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'dist/phoenix-ga-ctl.js'), '--socket', agent.sock, ...args], { encoding: 'utf8' });
    const r = ctl('grow-filesystem', d.mnt);
    assert.is(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], new RegExp(`^${d.mnt} \\(xfs on ${d.part(1)}\\): grown; bytes: disk 419430400 -> 536870912, partition 402653184 -> \\d+, filesystem \\d+ -> \\d+$`));
    assert.match(lines[1], new RegExp(`^ {2}DONE {7}rescan: losetup -c ${d.loop}: `));
    assert.match(lines[2], /^ {2}DONE {7}partition: (growpart|sfdisk) /);
    assert.match(lines[3], new RegExp(`^ {2}DONE {7}filesystem: xfs_growfs ${d.mnt}: grown from \\d+ to \\d+ bytes$`));
    assert.is(lines.length, 4);
    const again = ctl('grow-filesystem', d.mnt);
    assert.match(again.stdout, new RegExp(`^${d.mnt} \\(xfs on ${d.part(1)}\\): nothing to grow; bytes: disk 536870912, partition \\d+, filesystem \\d+\\n {2}UNCHANGED  rescan: `));
    const none = ctl('grow-filesystem');
    assert.is(none.status, 3);
    assert.match(none.stderr, /grow-filesystem needs a mount point/);
    const json = JSON.parse(ctl('--json', 'grow-filesystem', d.mnt).stdout);
    assert.is(json.result, 'nothing to grow');
  } finally {
    await agent.stop();
    d.cleanup();
  }
});

test.run();

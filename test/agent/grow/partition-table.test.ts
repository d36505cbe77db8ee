// The partition decisions as pure functions, on tables as sfdisk --json prints them: the cases a
// loop device here cannot make (4096-byte sectors, MBR's 2^32-sector limit, a table grown before
// the kernel was told) beside the ones the loop-device tests also cover; and lvs's line (this
// kernel has no device-mapper, so the LVM path runs on no real volume here).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseLvs } from '../../../agent/grow/lvm';
import { parseSfdiskJson, partitionPlan } from '../../../agent/grow/partition-table';

const sfdisk = (label: string, parts: Array<[number, number, string?]>, sectorsize = 512) => parseSfdiskJson(JSON.stringify({
  partitiontable: { label, id: 'x', device: '/dev/vda', unit: 'sectors', sectorsize, partitions: parts.map(([start, size, type], i) => ({ node: `/dev/vda${i + 1}`, start, size, type: type ?? '83' })) },
}))!;
const disk = (sectors: number) => ({ node: '/dev/vda', sectors });
const GiB = 2 * 1024 * 1024;

test('GPT: the last partition grows up to the backup GPT (33 sectors of 512, 5 of 4096)', () => {
  assert.equal(partitionPlan(sfdisk('gpt', [[2048, 10 * GiB - 2048 - 33]]), { number: 1, start: 2048, sectors: 10 * GiB - 2048 - 33 }, disk(20 * GiB)), { action: 'grow', freeSectors: 10 * GiB });
  // 4096-byte sectors: the table counts in them, sysfs in 512.
  const t = sfdisk('gpt', [[256, 1000]], 4096);
  assert.equal(t.entries, [{ start: 2048, sectors: 8000, type: '83' }]);
  assert.equal(partitionPlan(t, { number: 1, start: 2048, sectors: 8000 }, disk(10 * GiB)), { action: 'grow', freeSectors: 10 * GiB - 40 - 10048 });
});

test('already full size, and a table grown before the kernel was told', () => {
  const full = 20 * GiB - 2048 - 33;
  assert.equal(partitionPlan(sfdisk('gpt', [[2048, full]]), { number: 1, start: 2048, sectors: full }, disk(20 * GiB)),
    { action: 'none', desc: 'partition 1 already reaches the end of /dev/vda (0 sectors of 512 bytes free after it)' });
  assert.equal(partitionPlan(sfdisk('gpt', [[2048, full]]), { number: 1, start: 2048, sectors: 1000 }, disk(20 * GiB)).action, 'refresh');
});

test('MBR: to the disk\'s end, at most 2^32 sectors; logical and extended partitions refused', () => {
  assert.equal(partitionPlan(sfdisk('dos', [[2048, 4096]]), { number: 1, start: 2048, sectors: 4096 }, disk(GiB)), { action: 'grow', freeSectors: GiB - 6144 });
  // A 3 TiB disk: MBR cannot describe past 2 TiB.
  assert.equal(partitionPlan(sfdisk('dos', [[2048, 4096]]), { number: 1, start: 2048, sectors: 4096 }, disk(3 * 1024 * GiB)), { action: 'grow', freeSectors: 2 ** 32 - 6144 });
  const logical = partitionPlan(sfdisk('dos', [[2048, 4096], [8192, 100000, '5'], [10240, 4096]]), { number: 5, start: 10240, sectors: 4096 }, disk(GiB));
  assert.equal(logical.action, 'refuse');
  assert.match((logical as { desc: string }).desc, /^partition 5 of \/dev\/vda is a logical partition/);
  assert.match((partitionPlan(sfdisk('dos', [[2048, 4096, 'f']]), { number: 1, start: 2048, sectors: 4096 }, disk(GiB)) as { desc: string }).desc, /is an extended partition$/);
});

test('not last, unknown table types and a kernel whose view is stale: refused with the reason', () => {
  assert.equal(partitionPlan(sfdisk('gpt', [[2048, 4096], [100000, 4096]]), { number: 1, start: 2048, sectors: 4096 }, disk(GiB)),
    { action: 'refuse', desc: 'partition 1 is not the last on /dev/vda: another partition starts at sector 100000 after it (growing it would mean moving that one)' });
  // Listed out of order in the table: position, not number, decides.
  assert.equal(partitionPlan(sfdisk('gpt', [[100000, 4096], [2048, 4096]]), { number: 2, start: 2048, sectors: 4096 }, disk(GiB)).action, 'refuse');
  assert.equal(partitionPlan(sfdisk('gpt', [[100000, 4096], [2048, 4096]]), { number: 1, start: 100000, sectors: 4096 }, disk(GiB)).action, 'grow');
  assert.match((partitionPlan(sfdisk('sun', [[0, 4096]]), { number: 1, start: 0, sectors: 4096 }, disk(GiB)) as { desc: string }).desc, /of type 'sun': only GPT and MBR/);
  assert.match((partitionPlan(sfdisk('gpt', [[4096, 4096]]), { number: 1, start: 2048, sectors: 4096 }, disk(GiB)) as { desc: string }).desc, /no partition starting at sector 2048.*partx -u \/dev\/vda/);
  assert.is(parseSfdiskJson('not json'), null);
  assert.is(parseSfdiskJson('{"partitiontable":{"sectorsize":100,"label":"gpt"}}'), null);
});

test('lvs: volume group, volume and free bytes, or null', () => {
  assert.equal(parseLvs('  vg0:root:1073741824\n'), { vg: 'vg0', lv: 'root', vgFreeBytes: 1073741824 });
  assert.equal(parseLvs('  vg0:root:0\n'), { vg: 'vg0', lv: 'root', vgFreeBytes: 0 });
  assert.is(parseLvs('  vg0:root\n'), null);
  assert.is(parseLvs(''), null);
});

test.run();

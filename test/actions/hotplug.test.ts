// CPU and memory on/offlining (guest-set-vcpus, guest-set-memory-blocks) and the memory block
// facts, on a temporary tree laid out like /sys/devices/system: what is written where, qemu-ga's
// partial-success rule and per-block answers. Not real: the tree's files are plain files (the
// kernel would refuse some writes sysfs takes here); taking this shared machine's CPUs or memory
// offline is not done. The real sysfs is read (never written) at the end and in test/compat.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { setMemoryBlocks, setVcpus } from '../../agent/actions/hotplug';
import { vcpus } from '../../agent/facts/cpu';
import { memoryBlockInfo, memoryBlocks } from '../../agent/facts/memory';
import { createHost } from '../../agent/os/host';
import { createSystem } from '../../agent/os/system';
import { tempDir } from '../helpers/agent';

function tree(files: Record<string, string>): { root: string; read(p: string): string } {
  const root = tempDir('hotplug-');
  for (const [p, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    fs.writeFileSync(path.join(root, p), text);
  }
  return { root, read: (p) => fs.readFileSync(path.join(root, p), 'utf8') };
}

async function rejects(f: () => Promise<unknown>, re: RegExp): Promise<void> {
  try { await f(); } catch (e) { assert.match((e as Error).message, re); return; }
  assert.unreachable(`no error, expected ${re}`);
}

const CPU = '/sys/devices/system/cpu';
const MEM = '/sys/devices/system/memory';

test('guest-set-vcpus: writes 0 or 1 only where the state differs; stops at the first failure and counts what was done', async () => {
  const t = tree({ [`${CPU}/cpu0/topology/core_id`]: '0\n', [`${CPU}/cpu1/online`]: '1\n', [`${CPU}/cpu2/online`]: '0\n', [`${CPU}/cpu3/online`]: '' });
  const sys = createSystem(t.root);
  assert.is(await setVcpus(sys, [{ 'logical-id': 1, online: false }, { 'logical-id': 2, online: true }]), 2);
  assert.is(t.read(`${CPU}/cpu1/online`)[0], '0');
  assert.is(t.read(`${CPU}/cpu2/online`)[0], '1');
  assert.equal(vcpus(createHost(t.root)).slice(0, 3).map((v) => [v['logical-id'], v.online, v['can-offline']]), [[0, true, false], [1, false, true], [2, true, true]]);
  // cpu0 has no online file: it stays on, and asking for it to go off is an error...
  await rejects(() => setVcpus(sys, [{ 'logical-id': 0, online: false }]), /^logical processor #0 can't be offlined$/);
  // ...unless something was done before it: then the count, as qemu-ga.
  assert.is(await setVcpus(sys, [{ 'logical-id': 1, online: true }, { 'logical-id': 0, online: false }, { 'logical-id': 2, online: false }]), 1);
  assert.is(t.read(`${CPU}/cpu2/online`)[0], '1', 'nothing after the failure');
  assert.is(await setVcpus(sys, [{ 'logical-id': 0, online: true }]), 1, 'cpu0 on: nothing to do');
  await rejects(() => setVcpus(sys, [{ 'logical-id': 9, online: true }]), /^open\("\/sys\/devices\/system\/cpu\/cpu9\/"\): No such file or directory$/);
  await rejects(() => setVcpus(sys, [{ 'logical-id': 3, online: false }]), /^pread\("\/sys\/devices\/system\/cpu\/cpu3\/\/online"\): unexpected EOF$/);
  assert.is(await setVcpus(sys, []), 0);
});

test('guest-set-memory-blocks: one answer per block with qemu-ga\'s response and errno', async () => {
  const t = tree({
    [`${MEM}/block_size_bytes`]: '8000000\n',
    [`${MEM}/memory0/state`]: 'online\n', [`${MEM}/memory0/removable`]: '0\n',
    [`${MEM}/memory8/state`]: 'online\n', [`${MEM}/memory8/removable`]: '1\n',
    [`${MEM}/memory9/state`]: 'offline\n',
    [`${MEM}/memory10/removable`]: '1\n',
  });
  fs.mkdirSync(path.join(t.root, `${MEM}/memory11/state`), { recursive: true });
  const sys = createSystem(t.root);
  const r = await setMemoryBlocks(sys, [
    { 'phys-index': 8, online: false },
    { 'phys-index': 9, online: true },
    { 'phys-index': 0, online: true },
    { 'phys-index': 99, online: true },
    { 'phys-index': 10, online: false },
    { 'phys-index': 10, online: true },
    { 'phys-index': 11, online: false },
  ]);
  assert.equal(r, [
    { 'phys-index': 8, response: 'success' },
    { 'phys-index': 9, response: 'success' },
    { 'phys-index': 0, response: 'success' },
    { 'phys-index': 99, response: 'not-found', 'error-code': 2 },
    { 'phys-index': 10, response: 'operation-not-supported', 'error-code': 2 },
    { 'phys-index': 10, response: 'success', 'error-code': 2 },
    { 'phys-index': 11, response: 'operation-failed', 'error-code': 21 },
  ]);
  assert.match(t.read(`${MEM}/memory8/state`), /^offline/);
  assert.match(t.read(`${MEM}/memory9/state`), /^online/);
  fs.rmSync(path.join(t.root, `${MEM}/memory11`), { recursive: true });
  const host = createHost(t.root);
  assert.equal(memoryBlocks(host).slice(0, 4), [
    { 'phys-index': 0, online: true, 'can-offline': false },
    { 'phys-index': 8, online: false, 'can-offline': true },
    { 'phys-index': 9, online: true, 'can-offline': false },
    { 'phys-index': 10, online: true, 'can-offline': false },
  ]);
  assert.equal(memoryBlockInfo(host), { size: 0x8000000 });
  assert.equal(await setMemoryBlocks(createSystem(tempDir('nomem-')), [{ 'phys-index': 1, online: true }]), [{ 'phys-index': 1, response: 'operation-not-supported', 'error-code': 2 }]);
});

test('memory facts without the sysfs directory: no blocks (as qemu-ga), and block info says what is missing', () => {
  const host = createHost(tempDir('nomem-'));
  assert.equal(memoryBlocks(host), []);
  assert.throws(() => memoryBlockInfo(host), /^open\("\/sys\/devices\/system\/memory\/"\): No such file or directory$/);
  const empty = tree({ [`${MEM}/block_size_bytes`]: '8000000\n' });
  assert.throws(() => memoryBlocks(createHost(empty.root)), /^guest reported zero memory blocks!$/);
});

test('the real sysfs, read only: every memory block and CPU of this machine', () => {
  const host = createHost('/');
  const blocks = memoryBlocks(host);
  assert.is(blocks.length, fs.readdirSync(MEM).filter((n) => /^memory\d+$/.test(n)).length);
  assert.ok(blocks.every((b) => typeof b.online === 'boolean' && typeof b['can-offline'] === 'boolean'));
  assert.is(memoryBlockInfo(host).size, parseInt(fs.readFileSync(`${MEM}/block_size_bytes`, 'utf8'), 16));
  assert.ok(vcpus(host).every((v) => typeof v['can-offline'] === 'boolean'), 'can-offline on every CPU (libvirt needs it)');
});

test.run();

// CPU and memory hotplug as qemu-ga does it through sysfs (libvirt `setvcpus --guest`,
// `guestvcpus --enable/--disable`; Proxmox's memory block queries). guest-get-vcpus is a fact
// (facts.ts); the rest is here.

import { setMemoryBlocks, setVcpus } from '../actions/hotplug';
import { memoryBlockInfo, memoryBlocks } from '../facts/memory';
import { command } from './command';
import { arrayOf, bool, int64, noArgs, object, optional, uint64 } from './schema';

const vcpu = object({
  'logical-id': int64('integer, the CPU number'),
  online: bool(),
  'can-offline': optional(bool('boolean, ignored (as qemu-ga)')),
}, 'GuestLogicalProcessor');

const memoryBlock = object({
  'phys-index': uint64('integer, the memory block number'),
  online: bool(),
  'can-offline': optional(bool('boolean, ignored (as qemu-ga)')),
}, 'GuestMemoryBlock');

export const hotplugCommands = [
  command({
    name: 'guest-set-vcpus',
    description: 'Bring CPUs online or offline, in order, stopping at the first failure; returns how many were processed (an error only when none was).',
    args: object({ vcpus: arrayOf(vcpu, { maxItems: 8192, doc: 'array of {logical-id, online}' }) }),
    mutating: true,
    run: (a, ctx) => setVcpus(ctx.sys, a.vcpus),
  }),
  command({
    name: 'guest-get-memory-blocks',
    description: 'Memory blocks (/sys/devices/system/memory): phys-index, online, can-offline.',
    args: noArgs,
    run: (_a, ctx) => memoryBlocks(ctx.host),
  }),
  command({
    name: 'guest-set-memory-blocks',
    description: 'Bring memory blocks online or offline; one answer per block: success, not-found, operation-not-supported or operation-failed (with error-code, an errno).',
    args: object({ 'mem-blks': arrayOf(memoryBlock, { maxItems: 65536, doc: 'array of {phys-index, online}' }) }),
    mutating: true,
    run: (a, ctx) => setMemoryBlocks(ctx.sys, a['mem-blks']),
  }),
  command({
    name: 'guest-get-memory-block-info',
    description: 'The size of a memory block in bytes.',
    args: noArgs,
    run: (_a, ctx) => memoryBlockInfo(ctx.host),
  }),
];

// Memory blocks for hotplug, as qemu-ga reads them from /sys/devices/system/memory:
// guest-get-memory-blocks (each block online or not, and whether it may go offline) and
// guest-get-memory-block-info (the block size, hex in sysfs).

import type { Host } from '../os/host';
import { strerror } from '../actions/errno';
import { QgaError } from '../wire/reply';

const MEMORY = '/sys/devices/system/memory/';

export interface MemoryBlock { 'phys-index': number; online: boolean; 'can-offline': boolean }

const fail = (desc: string): never => { throw new QgaError('GenericError', desc); };

/** A sysfs attribute's text; ENOENT is null (an older kernel without it), any other error fails. */
function attr(host: Host, dir: string, name: string): string | null {
  const r = host.readOrCode(`${dir}${name}`);
  if ('text' in r) return r.text;
  return r.code === 'ENOENT' ? null : fail(`open sysfs file "${name}": ${strerror(r.code)}`);
}

/** The blocks in phys-index order (qemu-ga lists them in directory order). No sysfs directory: none, as qemu-ga. */
export function memoryBlocks(host: Host): MemoryBlock[] {
  if (!host.exists(MEMORY)) return [];
  const out: MemoryBlock[] = [];
  for (const e of host.entries(MEMORY)) {
    if (!e.name.startsWith('memory') || !e.dir) continue;
    const dir = `${MEMORY}${e.name}/`;
    const index = parseInt(e.name.slice(6), 10) || 0;
    const state = attr(host, dir, 'state');
    if (state === null) { out.push({ 'phys-index': index, online: true, 'can-offline': false }); continue; }
    const removable = attr(host, dir, 'removable');
    out.push({ 'phys-index': index, online: state.startsWith('online'), 'can-offline': removable !== null && removable !== '' && removable[0] !== '0' });
  }
  if (!out.length) fail('guest reported zero memory blocks!');
  return out.sort((a, b) => a['phys-index'] - b['phys-index']);
}

export function memoryBlockInfo(host: Host): { size: number } {
  if (!host.exists(MEMORY)) fail(`open("${MEMORY}"): ${strerror('ENOENT')}`);
  const text = attr(host, MEMORY, 'block_size_bytes');
  if (text === null) fail(`open sysfs file "block_size_bytes": ${strerror('ENOENT')}`);
  // strtol(buf, NULL, 16): the leading hex digits.
  const m = /^\s*([0-9a-fA-F]+)/.exec(text!);
  return { size: m ? parseInt(m[1], 16) : 0 };
}

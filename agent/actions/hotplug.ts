// guest-set-vcpus and guest-set-memory-blocks, as qemu-ga: CPU and memory on/offlining through
// sysfs (written through the OS door), with qemu-ga's rules. set-vcpus stops at the first failure
// and returns how many it changed, an error only when that is none; set-memory-blocks answers
// each block (success, not-found, operation-not-supported, operation-failed, with the errno).

import fs = require('fs');
import type { System } from '../os/system';
import { QgaError } from '../wire/reply';
import { errCode, errnoNumber, strerror } from './errno';

const CPU = '/sys/devices/system/cpu';
const MEMORY = '/sys/devices/system/memory/';
const { O_RDONLY, O_WRONLY, O_RDWR, O_DIRECTORY } = fs.constants;

type Int = number | bigint;
const fail = (desc: string): never => { throw new QgaError('GenericError', desc); };

/** Opens P, or gives the errno code of open(2). */
function openOrCode(sys: System, p: string, flags: number): number | string {
  try { return sys.file.open(p, flags); } catch (e) { return errCode(e); }
}

function probeDir(sys: System, p: string): string | null {
  const fd = openOrCode(sys, p, O_RDONLY | O_DIRECTORY);
  if (typeof fd === 'string') return fd;
  sys.file.close(fd);
  return null;
}

async function readAttr(sys: System, fd: number, max: number): Promise<string> {
  const buf = Buffer.alloc(max);
  const n = await sys.file.read(fd, buf, 0);
  // An empty attribute: qemu-ga reports it with errno 0 ("EOF" here).
  if (n === 0) throw Object.assign(new Error('unexpected EOF'), { code: 'EOF' });
  return buf.toString('latin1', 0, n);
}

export async function setVcpus(sys: System, list: Array<{ 'logical-id': Int; online: boolean }>): Promise<number> {
  let done = 0;
  for (const v of list) {
    try {
      await setVcpu(sys, v['logical-id'], v.online);
    } catch (e) {
      // qemu-ga: what was changed before the failure counts; the error only when nothing was.
      if (done === 0) throw e;
      break;
    }
    done++;
  }
  return done;
}

async function setVcpu(sys: System, id: Int, online: boolean): Promise<void> {
  const dir = `${CPU}/cpu${id}/`;
  const missing = probeDir(sys, dir);
  if (missing) fail(`open("${dir}"): ${strerror(missing)}`);
  // qemu-ga's texts name the file as "<dir>/online", the doubled slash included.
  const file = `${dir}/online`;
  const fd = openOrCode(sys, file, O_RDWR);
  if (typeof fd === 'string') {
    if (fd !== 'ENOENT') fail(`open("${file}"): ${strerror(fd)}`);
    // No online file: the CPU is always on (cpu0 on most guests).
    if (!online) fail(`logical processor #${id} can't be offlined`);
    return;
  }
  try {
    let now: string;
    try { now = await readAttr(sys, fd, 1); } catch (e) { return fail(`pread("${file}"): ${errCode(e) === 'EOF' ? 'unexpected EOF' : strerror(errCode(e))}`); }
    if ((now !== '0') === online) return;
    try { await sys.file.write(fd, Buffer.from(online ? '1' : '0'), 0); } catch (e) { fail(`pwrite("${file}"): ${strerror(errCode(e))}`); }
  } finally {
    sys.file.close(fd);
  }
}

export type MemoryResponse = 'success' | 'not-found' | 'operation-not-supported' | 'operation-failed';

export async function setMemoryBlocks(sys: System, list: Array<{ 'phys-index': Int; online: boolean }>): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for (const b of list) out.push(await setMemoryBlock(sys, b['phys-index'], b.online));
  return out;
}

async function setMemoryBlock(sys: System, index: Int, online: boolean): Promise<Record<string, unknown>> {
  const answer = (response: MemoryResponse, code?: string): Record<string, unknown> =>
    code === undefined ? { 'phys-index': index, response } : { 'phys-index': index, response, 'error-code': code === 'EOF' ? 0 : errnoNumber(code) };
  const top = probeDir(sys, MEMORY);
  // As qemu-ga: only a missing directory says "not supported"; another error keeps the default answer.
  if (top) return answer(top === 'ENOENT' ? 'operation-not-supported' : 'success', top);
  const dir = `${MEMORY}memory${index}/`;
  const missing = probeDir(sys, dir);
  if (missing) return answer(missing === 'ENOENT' ? 'not-found' : 'operation-failed', missing);
  const fd = openOrCode(sys, `${dir}state`, O_RDONLY);
  let state: string;
  if (typeof fd === 'string') {
    // A kernel without the state file: qemu-ga says success for "online", not supported for "offline", with ENOENT either way.
    return fd === 'ENOENT' ? answer(online ? 'success' : 'operation-not-supported', fd) : answer('operation-failed', fd);
  }
  try { state = await readAttr(sys, fd, 10); } catch (e) { return answer('operation-failed', errCode(e)); } finally { sys.file.close(fd); }
  if (state.startsWith('online') === online) return answer('success');
  const w = openOrCode(sys, `${dir}state`, O_WRONLY);
  if (typeof w === 'string') return answer('operation-failed', w);
  try {
    await sys.file.write(w, Buffer.from(online ? 'online' : 'offline'), 0);
  } catch (e) {
    return answer('operation-failed', errCode(e));
  } finally {
    sys.file.close(w);
  }
  return answer('success');
}

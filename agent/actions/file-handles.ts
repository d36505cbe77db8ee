// guest-file-open/-read/-write/-seek/-flush/-close, as qemu-ga: fopen modes, handles numbered
// from a counter kept in the state directory (so a handle is never reused, even across restarts),
// read up to `count` bytes (qemu-ga's 48 MiB bound), base64 in and out. Handles live in this worker
// only: a handle of an earlier worker is answered as such. File contents are never logged.

import type { System } from '../os/system';
import { QgaError } from '../wire/reply';
import { decodeBase64, decodeBase64InPlace } from '../commands/base64';
import type { StringInBytes } from '../wire/json-parse';
import { errCode, strerror } from './errno';
import { openGuestFile, Opened } from './file-open';
import { createHandleCounter } from './handle-counter';

/** qemu-ga's default `count` and its bound. */
export const READ_DEFAULT = 4096;
export const READ_MAX = 48 << 20;
/** Bytes one reply carries at most: 4 MiB is 5.6 MB of base64, well under the worker heap and libvirt's 10 MiB reply cap. */
export const READ_CHUNK = 4 << 20;
export const MAX_HANDLES = 64;
/** lseek's limit as far as a JavaScript number can say it. */
const MAX_POSITION = Number.MAX_SAFE_INTEGER;

interface Handle extends Opened { id: number; pos: number }

const fail = (desc: string): never => { throw new QgaError('GenericError', desc); };
const sysFail = (what: string, e: unknown): never => fail(`${what}: ${strerror(errCode(e))}`);

/** Handles and counts are 64-bit integers on the wire (bigint beyond 2^53). */
type Int = number | bigint;

export interface FileHandles {
  open(path: string, mode: string): Promise<number>;
  read(handle: Int, count: Int | undefined): Promise<{ count: number; 'buf-b64': string; eof: boolean }>;
  write(handle: Int, b64: string | StringInBytes, count: Int | undefined): Promise<{ count: number; eof: boolean }>;
  seek(handle: Int, offset: Int, whence: Int): { position: number; eof: boolean };
  flush(handle: Int): Record<string, never>;
  close(handle: Int): Record<string, never>;
}

/** COUNT as a number when it is within 0..MAX, else qemu-ga's error. */
function checkCount(count: Int, max: number): number {
  if (count < 0 || count > max) fail(`value '${count}' is invalid for argument count`);
  return Number(count);
}

export function createFileHandles(o: { sys: System; stateDir: string }): FileHandles {
  const counter = createHandleCounter(o.stateDir);
  const handles = new Map<number, Handle>();
  const find = (id: Int): Handle => {
    const h = typeof id === 'number' ? handles.get(id) : undefined;
    if (h) return h;
    if (typeof id === 'number' && counter.earlier(id)) fail(`handle '${id}' belonged to an earlier run of the agent, which has restarted since; its file was closed then: open the file again`);
    return fail(`handle '${id}' has not been found`);
  };
  return {
    async open(path, mode) {
      if (handles.size >= MAX_HANDLES) fail(`too many open file handles (at most ${MAX_HANDLES}): close one with guest-file-close first`);
      const f = openGuestFile(o.sys, path, mode);
      let id: number;
      try { id = counter.next(); } catch (e) {
        o.sys.file.close(f.fd);
        return fail(`failed to commit persistent state to disk: ${strerror(errCode(e))}`);
      }
      handles.set(id, { ...f, id, pos: 0 });
      return id;
    },
    async read(id, count) {
      const h = find(id);
      const want = checkCount(count ?? READ_DEFAULT, READ_MAX);
      const buf = Buffer.allocUnsafe(Math.min(want, READ_CHUNK));
      let got = 0;
      let eof = false;
      while (got < buf.length) {
        let n: number;
        try {
          n = await o.sys.file.read(h.fd, buf.subarray(got), h.seekable ? h.pos : null);
        } catch (e) {
          // A pipe with nothing more to read now: what came before is the answer (qemu-ga loses it).
          if (got > 0 && errCode(e) === 'EAGAIN') break;
          return sysFail('failed to read file', e);
        }
        if (n === 0) { eof = buf.length > 0; break; }
        got += n;
        if (h.seekable) h.pos += n;
      }
      const b64 = buf.toString('base64', 0, got);
      buf.fill(0, 0, got);
      return { count: got, 'buf-b64': b64, eof };
    },
    async write(id, b64, count) {
      const h = find(id);
      const data = typeof b64 === 'string' ? decodeBase64(b64) : decodeBase64InPlace(b64);
      let n: number;
      try { n = checkCount(count ?? data.length, data.length); } catch (e) { data.fill(0); throw e; }
      let done = 0;
      try {
        while (done < n) {
          // O_APPEND writes land at the end whatever the position: let the kernel place them.
          const w = await o.sys.file.write(h.fd, data.subarray(done, n), h.seekable && !h.append ? h.pos : null);
          done += w;
          if (h.seekable && !h.append) h.pos += w;
        }
        if (h.append && h.seekable) h.pos = o.sys.file.stat(h.fd).size;
      } catch (e) {
        if (done === 0) sysFail('failed to write to file', e);
      } finally {
        data.fill(0);
      }
      return { count: done, eof: false };
    },
    seek(id, offset, whence) {
      const h = find(id);
      const w = Number(whence);
      if (w !== 0 && w !== 1 && w !== 2) fail(`invalid whence code ${whence}`);
      if (!h.seekable) fail(`failed to seek file: ${strerror('ESPIPE')}`);
      let base = 0;
      try { base = w === 0 ? 0 : w === 1 ? h.pos : o.sys.file.stat(h.fd).size; } catch (e) { sysFail('failed to seek file', e); }
      const at = Number(BigInt(base) + BigInt(offset));
      if (at < 0 || at > MAX_POSITION) fail(`failed to seek file: ${strerror('EINVAL')}`);
      h.pos = at;
      return { position: at, eof: false };
    },
    // Writes go straight to the kernel (no stdio buffer), so there is nothing to flush; qemu-ga's fflush does not fsync either.
    flush(id) {
      find(id);
      return {};
    },
    close(id) {
      const h = find(id);
      handles.delete(h.id);
      try { o.sys.file.close(h.fd); } catch (e) { sysFail('failed to close handle', e); }
      return {};
    },
  };
}

// Root's own small files (the config file, the heartbeat key) read and written through the door:
// opened without following links, a regular file of bounded size, owned by root and closed to
// group and others; written whole, 0600, atomically, in a directory only root can write to.

import fs = require('fs');
import path = require('path');
import { fileProblem } from '../../supervisor/settings';
import type { System } from '../os/system';
import { QgaError } from '../wire/reply';

const MAX_BYTES = 1 << 20;

const bad = (why: string): never => { throw new QgaError('GenericError', why); };
const code = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** P's text, or null when it does not exist; BITS are the mode bits group and others must not have (0: any). */
export async function readPrivate(sys: System, p: string, bits: number): Promise<string | null> {
  let fd: number;
  try {
    fd = sys.file.open(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    if (code(e) === 'ENOENT') return null;
    return bad(code(e) === 'ELOOP' ? `${p} is a symbolic link; refusing to use it` : `${p} cannot be read (${code(e)})`);
  }
  try {
    const st = sys.file.stat(fd);
    if (!st.isFile()) bad(`${p} is not a regular file`);
    if (st.size > MAX_BYTES) bad(`${p} is larger than ${MAX_BYTES} bytes`);
    const problem = bits ? fileProblem(st, p, bits) : null;
    if (problem) bad(problem);
    const buf = Buffer.alloc(st.size);
    let n = 0;
    for (let r = 1; n < buf.length && r > 0; n += r) r = await sys.file.read(fd, buf.subarray(n), n);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    sys.file.close(fd);
  }
}

/** Writes P (root's, 0600, atomically), creating its directory 0755 if it is missing. */
export function writePrivate(sys: System, p: string, text: string): void {
  const dir = path.dirname(p);
  try {
    sys.makeDir(dir, 0o755);
    const problem = fileProblem(fs.lstatSync(sys.at(dir)), dir, 0o022);
    if (problem) bad(`directory ${problem}; refusing to write ${p} there`);
    sys.writeText(p, text, { mode: 0o600, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
  } catch (e) {
    if (e instanceof QgaError) throw e;
    bad(`${p} could not be written (${code(e)})`);
  }
}

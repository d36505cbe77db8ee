// guest-file-open's open(2), as qemu-ga: fopen(3) modes mapped to open flags, never a controlling
// tty, non-blocking (a FIFO must not hang the agent), a new file created exclusively so its mode
// does not depend on the umask. Two deliberate differences: a new file is 0644 (qemu-ga: 0666,
// writable by every user), and a writable open never goes through a symbolic link (a user's link
// must not turn the host's write into a write to /etc/shadow); reading follows links as qemu-ga.

import fs = require('fs');
import path = require('path');
import type { System } from '../os/system';
import { QgaError } from '../wire/reply';
import { errCode, strerror } from './errno';

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NOCTTY, O_NONBLOCK, O_NOFOLLOW } = fs.constants;

/** fopen(3) modes and their open(2) flags (qemu-ga's table; "b" means nothing on POSIX). */
const MODES: Record<string, number> = {};
for (const [forms, flags] of [
  [['r', 'rb'], O_RDONLY], [['w', 'wb'], O_WRONLY | O_CREAT | O_TRUNC], [['a', 'ab'], O_WRONLY | O_CREAT | O_APPEND],
  [['r+', 'rb+', 'r+b'], O_RDWR], [['w+', 'wb+', 'w+b'], O_RDWR | O_CREAT | O_TRUNC], [['a+', 'ab+', 'a+b'], O_RDWR | O_CREAT | O_APPEND],
] as Array<[string[], number]>) for (const f of forms) MODES[f] = flags;

export const NEW_FILE_MODE = 0o644;

export interface Opened {
  fd: number;
  /** A regular file or block device: reads and writes at our own position. */
  seekable: boolean;
  append: boolean;
}

export function openGuestFile(sys: System, file: string, mode: string): Opened {
  const flags = MODES[mode];
  if (flags === undefined) throw new QgaError('GenericError', `invalid file open mode '${mode.slice(0, 64)}'`);
  const writable = (flags & (O_WRONLY | O_RDWR)) !== 0;
  const failed = (e: unknown): never => {
    const code = errCode(e);
    const why = code === 'ELOOP' && writable ? 'it is a symbolic link; give the real path' : strerror(code);
    throw new QgaError('GenericError', `failed to open file '${file}' (mode: '${mode}'): ${why}`);
  };
  if (file === '') failed({ code: 'ENOENT' });
  if (file.includes('\0')) failed({ code: 'EINVAL' });
  // qemu-ga runs in /: a relative path is taken from there.
  const wanted = path.resolve('/', file);
  // O_TRUNC waits until the descriptor is known to be the file asked for.
  const base = (flags & ~O_TRUNC) | O_NOCTTY | O_NONBLOCK | (writable ? O_NOFOLLOW : 0);
  let fd = -1, created = false;
  try {
    if (flags & O_CREAT) {
      try { fd = sys.file.open(wanted, base | O_EXCL, 0); created = true; } catch (e) { if (errCode(e) !== 'EEXIST') throw e; }
    }
    if (fd < 0) fd = sys.file.open(wanted, base & ~O_CREAT);
  } catch (e) {
    return failed(e);
  }
  try {
    // A directory link on the way (a user's ~/dir -> /etc) is not the file asked for either.
    const real = writable ? sys.file.where(fd) : wanted;
    if (real !== wanted) {
      if (created && real) sys.remove(real);
      throw new QgaError('GenericError', `failed to open file '${file}' (mode: '${mode}'): the path goes through a symbolic link${real ? ` (to '${real}')` : ''}; give the real path`);
    }
    if (created) sys.file.chmod(fd, NEW_FILE_MODE);
    const st = sys.file.stat(fd);
    // As open(2) does: O_TRUNC applies to regular files only (not a FIFO or a device).
    if (flags & O_TRUNC && st.isFile()) sys.file.truncate(fd, 0);
    return { fd, seekable: st.isFile() || st.isBlockDevice(), append: (flags & O_APPEND) !== 0 };
  } catch (e) {
    sys.file.close(fd);
    if (e instanceof QgaError) throw e;
    return failed(e);
  }
}

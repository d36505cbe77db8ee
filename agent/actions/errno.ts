// glibc's strerror texts, which qemu-ga puts after its error messages ("failed to open file 'x'
// (mode: 'r'): No such file or directory"); Node's own texts are libuv's and worded differently.

import os = require('os');

const TEXTS: Record<string, string> = {
  EPERM: 'Operation not permitted', ENOENT: 'No such file or directory', EIO: 'Input/output error',
  ENXIO: 'No such device or address', E2BIG: 'Argument list too long', ENOEXEC: 'Exec format error',
  EBADF: 'Bad file descriptor', EAGAIN: 'Resource temporarily unavailable', ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied', EBUSY: 'Device or resource busy', EEXIST: 'File exists', ENODEV: 'No such device',
  ENOTDIR: 'Not a directory', EISDIR: 'Is a directory', EINVAL: 'Invalid argument', ENFILE: 'Too many open files in system',
  EMFILE: 'Too many open files', ETXTBSY: 'Text file busy', EFBIG: 'File too large', ENOSPC: 'No space left on device',
  ESPIPE: 'Illegal seek', EROFS: 'Read-only file system', EPIPE: 'Broken pipe', ENAMETOOLONG: 'File name too long',
  ELOOP: 'Too many levels of symbolic links', EOPNOTSUPP: 'Operation not supported', EDQUOT: 'Disk quota exceeded',
  ENOTSUP: 'Operation not supported', ECANCELED: 'Operation canceled', EINTR: 'Interrupted system call',
};

/** The errno code of a Node error ('ENOENT'), or 'EIO' when it has none. */
export function errCode(e: unknown): string {
  const c = (e as NodeJS.ErrnoException | null)?.code;
  return typeof c === 'string' && /^E[A-Z0-9]+$/.test(c) ? c : 'EIO';
}

/** strerror(3) of a code, as glibc words it. */
export function strerror(code: string): string {
  return TEXTS[code] ?? code;
}

/** The errno number of a code (ENOENT -> 2), as qemu-ga reports error-code. */
export function errnoNumber(code: string): number {
  return (os.constants.errno as Record<string, number>)[code] ?? 5;
}

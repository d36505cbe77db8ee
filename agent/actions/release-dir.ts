// The agent's own release directories (an upload's staging directory, a version directory being
// built) reached through descriptors: each directory is opened without following links and checked
// to be root's and closed to others, and its files are opened relative to that descriptor (through
// /proc/self/fd), by names from the release's fixed set, never by a path from a request.

import fs = require('fs');
import type { System } from '../os/system';
import { QgaError } from '../wire/reply';

const { O_DIRECTORY, O_NOFOLLOW, O_RDONLY } = fs.constants;
const bad = (why: string): never => { throw new QgaError('GenericError', why); };
export const errCode = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** A release file's name inside a flat directory: "init/etc/x" is "init+etc+x". */
export const flatName = (name: string): string => name.replace(/\//g, '+');

export interface OwnDir {
  fd: number;
  /** The path of NAME inside this directory, through the descriptor. */
  at(name: string): string;
  close(): void;
}

/** Opens directory P (creating it with MODE when asked), refusing a link or one others could change. */
export function openOwnDir(sys: System, p: string, create: boolean, shown = p, mode = 0o700): OwnDir | null {
  if (create) {
    try { fs.mkdirSync(sys.at(p), { mode }); } catch (e) { if (errCode(e) !== 'EEXIST') bad(`${shown} cannot be created (${errCode(e)})`); }
  }
  let fd: number;
  try { fd = sys.file.open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW); } catch (e) {
    if (errCode(e) === 'ENOENT') return null;
    return bad(errCode(e) === 'ELOOP' || errCode(e) === 'ENOTDIR' ? `${shown} is not a directory (a link?); refusing to use it` : `${shown} cannot be opened (${errCode(e)})`);
  }
  const st = sys.file.stat(fd);
  if (st.uid !== (process.getuid?.() ?? 0) || st.mode & 0o022) {
    sys.file.close(fd);
    bad(`${shown} is owned by uid ${st.uid} with mode ${(st.mode & 0o777).toString(8)}; expected ours and not writable by others`);
  }
  return { fd, at: (name) => `/proc/self/fd/${fd}/${name}`, close: () => sys.file.close(fd) };
}

/** The size of NAME in DIR (a regular file), or null when absent. */
export function sizeIn(dir: OwnDir, name: string): number | null {
  try {
    const st = fs.lstatSync(dir.at(name));
    return st.isFile() ? st.size : bad(`${name} in the release directory is not a regular file`);
  } catch (e) {
    if (e instanceof QgaError) throw e;
    return null;
  }
}

/** Opens NAME in DIR without following a link; a regular file or nothing. */
export function openIn(dir: OwnDir, name: string, flags: number, mode = 0o600): number {
  const fd = fs.openSync(dir.at(name), flags | O_NOFOLLOW, mode);
  if (!fs.fstatSync(fd).isFile()) { fs.closeSync(fd); bad(`${name} in the release directory is not a regular file`); }
  return fd;
}

/** Removes directory NAME in DIR and everything in it (the release directories hold no links to follow). */
export function removeIn(dir: OwnDir, name: string): void {
  fs.rmSync(dir.at(name), { recursive: true, force: true });
}

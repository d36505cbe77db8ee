// qemu-ga's file commands (Proxmox `qm guest file-read` / `file-write`): handles from
// guest-file-open, base64 contents. Blocked in the shipped configuration, like guest-exec: writing
// any file as root is running code as root. Not journaled: contents never leave the handler.

import { MAX_HANDLES, READ_CHUNK, READ_MAX } from '../actions/file-handles';
import { QgaError } from '../wire/reply';
import { command } from './command';
import { base64Text, int64, object, oneOf, optional, Schema, str } from './schema';

const handle = int64('integer, from guest-file-open');

/** GuestFileWhence: a QGASeek name or, as qemu-ga first had it, the raw number (0, 1, 2). */
const whence: Schema<number | bigint> = {
  kind: 'GuestFileWhence',
  doc: 'set | cur | end, or 0 | 1 | 2',
  check(v, name) {
    if (typeof v === 'string') return ['set', 'cur', 'end'].indexOf(oneOf(['set', 'cur', 'end'] as const).check(v, name));
    if (typeof v === 'number' || typeof v === 'bigint') return int64().check(v, name);
    throw new QgaError('GenericError', `Invalid parameter type for '${name}', expected: GuestFileWhence`);
  },
};

export const fileCommands = [
  command({
    name: 'guest-file-open',
    description: `Open a file (fopen \`mode\`, default r); returns a handle, valid until guest-file-close or the worker's restart (at most ${MAX_HANDLES} open). A new file is created 0644; a writable open never follows a symbolic link.`,
    args: object({ path: str({ maxLength: 4096 }), mode: optional(str({ maxLength: 64, doc: 'r | w | a | r+ | w+ | a+ (b allowed: rb, r+b, ...)' })) }),
    run: (a, ctx) => ctx.files.open(a.path, a.mode ?? 'r'),
  }),
  command({
    name: 'guest-file-close',
    description: 'Close a handle.',
    args: object({ handle }),
    run: (a, ctx) => ctx.files.close(a.handle),
  }),
  command({
    name: 'guest-file-read',
    description: `Read up to \`count\` bytes (default 4096, at most ${READ_MAX >> 20} MiB); returns count, buf-b64 and eof. One reply carries at most ${READ_CHUNK >> 20} MiB: read again until eof.`,
    args: object({ handle, count: optional(int64(`integer, 0..${READ_MAX}`)) }),
    run: (a, ctx) => ctx.files.read(a.handle, a.count),
  }),
  command({
    name: 'guest-file-write',
    description: 'Write base64 `buf-b64` (its first `count` bytes); returns count and eof.',
    args: object({ handle, 'buf-b64': base64Text({ maxLength: 64 << 20, doc: 'base64 (line breaks allowed)' }), count: optional(int64('integer')) }),
    run: (a, ctx) => ctx.files.write(a.handle, a['buf-b64'], a.count),
  }),
  command({
    name: 'guest-file-seek',
    description: 'Move the position of a handle; returns position and eof.',
    args: object({ handle, offset: int64('integer (may be negative)'), whence }),
    run: (a, ctx) => ctx.files.seek(a.handle, a.offset, a.whence),
  }),
  command({
    name: 'guest-file-flush',
    description: 'Flush a handle (writes are not buffered in the agent: nothing waits).',
    args: object({ handle }),
    run: (a, ctx) => ctx.files.flush(a.handle),
  }),
];

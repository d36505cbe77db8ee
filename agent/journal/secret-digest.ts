// A digest of secret arguments (the password) that the journal may keep: HMAC-SHA256 under a
// random key of this state directory's own (root-only, never leaves it), so the same idempotency key
// sent again with another password is told apart, and the journal holds nothing that a dictionary
// could be run against without that key.

import type * as cryptoModule from 'crypto';
import fs = require('fs');
import path = require('path');

const KEY_BYTES = 32;
export const SECRET_KEY_FILE = 'secret.key';

function readKey(file: string): Buffer | null {
  let fd: number;
  try { fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW); } catch { return null; }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.uid !== process.getuid!() || st.mode & 0o077 || st.size !== KEY_BYTES) return null;
    const key = Buffer.alloc(KEY_BYTES);
    return fs.readSync(fd, key, 0, KEY_BYTES, 0) === KEY_BYTES ? key : null;
  } finally {
    fs.closeSync(fd);
  }
}

/** Returns digest(text): 32 hex digits. Throws when the key can be neither read nor made. */
export function secretDigester(dir: string): (text: string) => string {
  const file = path.join(dir, SECRET_KEY_FILE);
  let key: Buffer | null = null;
  return (text) => {
    // Loaded on first use: compiling Node's crypto module would delay the worker's start.
    const crypto = require('crypto') as typeof cryptoModule;
    key ??= readKey(file);
    if (!key) {
      const fresh = crypto.randomBytes(KEY_BYTES);
      const tmp = `${file}.new`;
      try { fs.unlinkSync(tmp); } catch { /* none */ }
      const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
      try {
        if (fs.writeSync(fd, fresh) !== KEY_BYTES) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, file);
      key = fresh;
    }
    return crypto.createHmac('sha256', key).update(text).digest('hex').slice(0, 32);
  };
}

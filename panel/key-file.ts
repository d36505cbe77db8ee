// The collector's key file: one line per VM key, "VMID [KEYID] HEXKEY [until=ISO-8601]", blank
// lines and "#" comments (whole lines or after the fields) ignored. Two lines for one VM (old and
// new key) make a rotation; `until` ends the old key's window. Errors name the file and line, never
// a key.

import * as fs from 'fs';
import { ID_PATTERN, KEY_ID_PATTERN } from '../supervisor/heartbeat-packet';

export interface KeyEntry {
  keyId: string;
  key: Buffer;
  /** During a rotation the old key is accepted until then (ms since the epoch). */
  notAfter?: number;
}

export class KeyFileError extends Error {}

const HEX_KEY = /^(?:[0-9a-fA-F]{2}){32,128}$/;
const FORMAT = "expected 'VMID [KEYID] HEXKEY [until=ISO-8601]' with 64 to 256 hex digits";

export function parseKeyFile(text: string, name = 'key file'): Map<string, KeyEntry[]> {
  const keys = new Map<string, KeyEntry[]>();
  text.split('\n').forEach((raw, i) => {
    const where = `${name} line ${i + 1}`;
    const hash = raw.indexOf('#');
    const t = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    if (!t) return;
    const w = t.split(/\s+/);
    const until = w.length > 2 && w[w.length - 1].startsWith('until=') ? w.pop()!.slice(6) : undefined;
    if (w.length < 2 || w.length > 3) throw new KeyFileError(`${where}: ${w.length} fields; ${FORMAT}`);
    const [vmId, keyId, hex] = w.length === 3 ? w : [w[0], '', w[1]];
    if (!ID_PATTERN.test(vmId)) throw new KeyFileError(`${where}: VM id '${vmId.slice(0, 70)}' is not 1 to 64 of [A-Za-z0-9._:-]`);
    if (!KEY_ID_PATTERN.test(keyId)) throw new KeyFileError(`${where}: key id '${keyId.slice(0, 40)}' is not 0 to 32 of [A-Za-z0-9._:-]`);
    if (!HEX_KEY.test(hex)) throw new KeyFileError(`${where}: the key is not 64 to 256 hex digits (an even count); ${FORMAT}`);
    const notAfter = until === undefined ? undefined : Date.parse(until);
    if (notAfter !== undefined && Number.isNaN(notAfter)) throw new KeyFileError(`${where}: until=${until!.slice(0, 40)} is not a time (ISO 8601, e.g. 2026-12-02T12:00:00Z)`);
    const list = keys.get(vmId) ?? [];
    list.push({ keyId, key: Buffer.from(hex, 'hex'), ...(notAfter !== undefined ? { notAfter } : {}) });
    keys.set(vmId, list);
  });
  return keys;
}

/** Reads and parses FILE; every failure is one KeyFileError line that names the file. */
export function loadKeyFile(file: string): Map<string, KeyEntry[]> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KeyFileError(`${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
  }
  return parseKeyFile(text, file);
}

// Replies and errors in qemu-ga's shapes: {"return": X, "id": ID} and
// {"id": ID, "error": {"class": C, "desc": D}}; errors about the framing carry no id.

import type { JsonValue } from './json-parse';
import { writeJson } from './json-write';

export type ErrorClass = 'GenericError' | 'CommandNotFound';

export class QgaError extends Error {
  constructor(readonly cls: ErrorClass, readonly desc: string) {
    super(desc);
  }
}

export interface RequestId {
  present: boolean;
  value?: JsonValue;
}

export const NO_ID: RequestId = { present: false };

/**
 * The reply line, put together by concatenation: V8 keeps the parts (a kept reply such as
 * guest-info's among them) as they are, and the line is copied once, when it is written. Joining
 * the parts copied a large reply once more at every call (young-generation collections in a
 * 68k-request burst, a third of it guest-info: 269 before, 255 after).
 */
export function successLine(result: unknown, id: RequestId): string {
  const line = '{"return":' + writeJson(result);
  return id.present && id.value !== undefined ? line + ',"id":' + writeJson(id.value) + '}' : line + '}';
}

export function errorLine(cls: ErrorClass, desc: string, id: RequestId): string {
  const error = { class: cls, desc };
  return writeJson(id.present ? { id: id.value, error } : { error });
}

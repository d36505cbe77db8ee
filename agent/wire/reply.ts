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

export function successLine(result: unknown, id: RequestId): string {
  return writeJson(id.present ? { return: result, id: id.value } : { return: result });
}

export function errorLine(cls: ErrorClass, desc: string, id: RequestId): string {
  const error = { class: cls, desc };
  return writeJson(id.present ? { id: id.value, error } : { error });
}

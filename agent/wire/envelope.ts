// The request envelope: {"execute": NAME, "arguments": {...}, "id": ANY}, checked member by
// member in the order they appear, with qemu-ga's texts.

import type { JsonObject, JsonValue } from './json-parse';
import { QgaError, RequestId } from './reply';

export interface Request {
  execute: string;
  args: JsonObject;
  id: RequestId;
}

/** The id of a request that is at least an object, so even envelope errors can echo it. */
export function requestId(v: JsonValue): RequestId {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.prototype.hasOwnProperty.call(v, 'id')) {
    return { present: true, value: (v as JsonObject).id };
  }
  return { present: false };
}

export function readEnvelope(v: JsonValue): Request {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new QgaError('GenericError', 'QMP input must be a JSON object');
  const o = v as JsonObject;
  let execute: string | undefined;
  let args: JsonObject = Object.create(null);
  for (const key of Object.keys(o)) {
    const m = o[key];
    if (key === 'execute') {
      if (typeof m !== 'string') throw new QgaError('GenericError', "QMP input member 'execute' must be a string");
      execute = m;
    } else if (key === 'arguments') {
      if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new QgaError('GenericError', "QMP input member 'arguments' must be an object");
      args = m as JsonObject;
    } else if (key !== 'id') {
      throw new QgaError('GenericError', `QMP input member '${key.length > 64 ? key.slice(0, 64) + '...' : key}' is unexpected`);
    }
  }
  if (execute === undefined) throw new QgaError('GenericError', "QMP input lacks member 'execute'");
  return { execute, args, id: requestId(v) };
}

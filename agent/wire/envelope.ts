// The request envelope: {"execute": NAME, "arguments": {...}, "id": ANY}, checked member by
// member in the order they appear, with qemu-ga's texts.

import { isJsonObject, JsonObject, JsonValue, parseJson } from './json-parse';
import { QgaError, RequestId } from './reply';

export interface Request {
  execute: string;
  args: JsonObject;
  id: RequestId;
}

/** The id of a request that is at least an object, so even envelope errors can echo it. */
export function requestId(v: JsonValue): RequestId {
  if (isJsonObject(v) && Object.prototype.hasOwnProperty.call(v, 'id')) return { present: true, value: v.id };
  return { present: false };
}

export function readEnvelope(v: JsonValue): Request {
  if (!isJsonObject(v)) throw new QgaError('GenericError', 'QMP input must be a JSON object');
  const o = v;
  let execute: string | undefined;
  let args: JsonObject = Object.create(null);
  for (const key of Object.keys(o)) {
    const m = o[key];
    if (key === 'execute') {
      if (typeof m !== 'string') throw new QgaError('GenericError', "QMP input member 'execute' must be a string");
      execute = m;
    } else if (key === 'arguments') {
      if (!isJsonObject(m)) throw new QgaError('GenericError', "QMP input member 'arguments' must be an object");
      args = m;
    } else if (key !== 'id') {
      throw new QgaError('GenericError', `QMP input member '${key.length > 64 ? key.slice(0, 64) + '...' : key}' is unexpected`);
    }
  }
  if (execute === undefined) throw new QgaError('GenericError', "QMP input lacks member 'execute'");
  return { execute, args, id: requestId(v) };
}

/** Whether TEXT is a JSON object with an `execute` member: a request of its own (see the lexer). */
export function isRequestText(text: Buffer): boolean {
  try {
    const v = parseJson(text);
    return isJsonObject(v) && Object.prototype.hasOwnProperty.call(v, 'execute');
  } catch {
    return false;
  }
}

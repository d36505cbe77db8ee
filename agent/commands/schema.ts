// Argument schemas: each command declares its arguments once with these builders; the checker
// gives qemu-ga's error texts ("Parameter 'x' is missing", "Invalid parameter type for 'x',
// expected: integer") and the handler gets typed, validated values. Unknown keys are errors.

import { JsonObject, JsonValue, StringInBytes } from '../wire/json-parse';
import { RawJson } from '../wire/json-write';
import { QgaError } from '../wire/reply';

export interface Schema<T> {
  /** Type name as qemu-ga prints it, also used by the generated reference. */
  readonly kind: string;
  readonly doc: string;
  check(v: JsonValue, name: string): T;
}

export interface Optional<T> {
  readonly optional: Schema<T>;
}

type FieldMap = Record<string, Schema<unknown> | Optional<unknown>>;
type Out<F> = F extends Optional<infer T> ? T | undefined : F extends Schema<infer T> ? T : never;
type OptionalKeys<F extends FieldMap> = { [K in keyof F]: F[K] extends Optional<unknown> ? K : never }[keyof F];
type RequiredKeys<F extends FieldMap> = Exclude<keyof F, OptionalKeys<F>>;
export type ObjectOf<F extends FieldMap> = { [K in RequiredKeys<F>]: Out<F[K]> } & { [K in OptionalKeys<F>]?: Out<F[K]> };

/** A parameter's name as an error shows it: an unexpected key is the client's text, so it is cut. */
const shown = (name: string): string => (name.length > 64 ? `${name.slice(0, 64)}...` : name);

const badType = (name: string, kind: string): never => {
  throw new QgaError('GenericError', `Invalid parameter type for '${shown(name)}', expected: ${kind}`);
};

export const bad = (name: string, why: string): never => {
  throw new QgaError('GenericError', `Parameter '${shown(name)}' ${why}`);
};

export function int(opts: { min?: number; max?: number; doc?: string } = {}): Schema<number> {
  const min = opts.min ?? Number.MIN_SAFE_INTEGER;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  return {
    kind: 'integer',
    doc: opts.doc ?? (opts.min !== undefined || opts.max !== undefined ? `integer ${min}..${max}` : 'integer'),
    check(v, name) {
      if (typeof v !== 'number' || !Number.isInteger(v)) return badType(name, 'integer');
      if (v < min || v > max) return bad(name, `is out of range (${min} to ${max})`);
      return v;
    },
  };
}

const INT64_MIN = -(2n ** 63n), INT64_MAX = 2n ** 63n - 1n;

/** A 64-bit integer, kept exact beyond 2^53 (sync ids are echoed digit for digit). */
export function int64(doc = 'integer (64-bit)'): Schema<number | bigint> {
  return {
    kind: 'integer',
    doc,
    check(v, name) {
      if (typeof v === 'bigint') return v >= INT64_MIN && v <= INT64_MAX ? v : badType(name, 'integer');
      if (typeof v !== 'number' || !Number.isInteger(v)) return badType(name, 'integer');
      return v;
    },
  };
}

const UINT64_MAX = 2n ** 64n - 1n;

/** qemu-ga's uint64: any integer of 64 bits, a negative one taken modulo 2^64 as C does. */
export function uint64(doc = 'integer (unsigned 64-bit)'): Schema<number | bigint> {
  return {
    kind: 'integer',
    doc,
    check(v, name) {
      const expects = (): never => bad(name, 'expects uint64');
      if (typeof v !== 'bigint' && (typeof v !== 'number' || !Number.isInteger(v))) return expects();
      const b = BigInt(v);
      if (b < INT64_MIN || b > UINT64_MAX) return expects();
      const u = b < 0n ? b + 2n ** 64n : b;
      return u <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(u) : u;
    },
  };
}

export function bool(doc = 'boolean'): Schema<boolean> {
  return { kind: 'boolean', doc, check: (v, name) => (typeof v === 'boolean' ? v : badType(name, 'boolean')) };
}

export function str(opts: { maxLength?: number; pattern?: RegExp; doc?: string } = {}): Schema<string> {
  const maxLength = opts.maxLength ?? 4096;
  return {
    kind: 'string',
    doc: opts.doc ?? 'string',
    check(v, name) {
      if (typeof v !== 'string') return badType(name, 'string');
      if (v.length > maxLength) return bad(name, `is too long (at most ${maxLength} characters)`);
      if (opts.pattern && !opts.pattern.test(v)) return bad(name, `has an invalid format (expected ${opts.doc ?? opts.pattern.source})`);
      return v;
    },
  };
}

/** A base64 string: a big one may stay in the request's bytes (wire/big-string.ts), for decodeBase64InPlace. */
export function base64Text(opts: { maxLength: number; doc: string }): Schema<string | StringInBytes> & { inPlace: true } {
  const text = str(opts);
  return {
    kind: 'string',
    doc: opts.doc,
    inPlace: true,
    check(v, name) {
      if (!(v instanceof StringInBytes)) return text.check(v, name);
      // Its content is ASCII with one-letter escapes: one character per byte, less one per escape.
      let length = v.to - v.from;
      for (let i = v.bytes.indexOf(0x5c, v.from); length > opts.maxLength && i >= 0 && i < v.to; i = v.bytes.indexOf(0x5c, i + 2)) length--;
      return length > opts.maxLength ? bad(name, `is too long (at most ${opts.maxLength} characters)`) : v;
    },
  };
}

export function oneOf<V extends string>(values: readonly V[], doc?: string): Schema<V> {
  return {
    kind: 'string',
    doc: doc ?? values.join(' | '),
    check(v, name) {
      if (typeof v !== 'string') return badType(name, 'string');
      if (!(values as readonly string[]).includes(v)) return bad(name, `does not accept value '${v.length > 64 ? v.slice(0, 64) + '...' : v}'`);
      return v as V;
    },
  };
}

export function arrayOf<T>(items: Schema<T>, opts: { maxItems?: number; doc?: string } = {}): Schema<T[]> {
  const maxItems = opts.maxItems ?? 1024;
  return {
    kind: 'array',
    doc: opts.doc ?? `array of ${items.doc}`,
    check(v, name) {
      if (!Array.isArray(v)) return badType(name, 'array');
      if (v.length > maxItems) return bad(name, `has too many items (at most ${maxItems})`);
      return v.map((x, i) => items.check(x, `${name}[${i}]`));
    },
  };
}

export function optional<T>(s: Schema<T>): Optional<T> {
  return { optional: s };
}

function isOptional(f: Schema<unknown> | Optional<unknown>): f is Optional<unknown> {
  return 'optional' in f;
}

export interface ObjectSchema<F extends FieldMap> extends Schema<ObjectOf<F>> {
  readonly fields: F;
}

/** An object with exactly these fields; `path` prefixes nested names ("keys[0].x"). */
export function object<F extends FieldMap>(fields: F, doc = 'object'): ObjectSchema<F> {
  return {
    kind: 'object',
    doc,
    fields,
    check(v, name) {
      if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof RawJson) return badType(name, 'object');
      const o = v as JsonObject;
      const out: Record<string, unknown> = {};
      const prefix = name ? `${name}.` : '';
      for (const key of Object.keys(o)) if (!Object.prototype.hasOwnProperty.call(fields, key)) bad(prefix + key, 'is unexpected');
      for (const key of Object.keys(fields)) {
        const f = fields[key];
        const present = Object.prototype.hasOwnProperty.call(o, key);
        if (!present) {
          if (!isOptional(f)) bad(prefix + key, 'is missing');
          continue;
        }
        out[key] = (isOptional(f) ? f.optional : f).check(o[key], prefix + key);
      }
      return out as ObjectOf<F>;
    },
  };
}

/** Commands without arguments. */
export const noArgs = object({});

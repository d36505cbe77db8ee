import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseJson } from '../../../agent/wire/json-parse';
import { RawJson, writeJson } from '../../../agent/wire/json-write';

const parse = (s: string | Buffer): unknown => parseJson(typeof s === 'string' ? Buffer.from(s, 'utf8') : s);
const err = (s: string | Buffer): string => {
  try { parse(s); } catch (e) { return (e as Error).message; }
  return 'no error';
};

test('integers beyond 2^53 survive digit for digit and are written back unchanged', () => {
  const v = parse('{"id":9007199254740993,"m":-9223372036854775808}') as Record<string, unknown>;
  assert.is(v.id, 9007199254740993n);
  assert.is(writeJson({ return: v.id }), '{"return":9007199254740993}');
  assert.is(writeJson(v), '{"id":9007199254740993,"m":-9223372036854775808}');
});

test('safe integers and floats are numbers', () => {
  assert.equal(parse('[0,-0,1,1.5,1e3,-2.5E-2]'), [0, 0, 1, 1.5, 1000, -0.025]);
});

test("qemu-ga's error texts for malformed JSON", () => {
  assert.is(err('{"a":1,"a":2}'), 'JSON parse error, duplicate key');
  assert.is(err('{1:2}'), 'JSON parse error, key is not a string in object');
  assert.is(err('{"a" 1}'), 'JSON parse error, missing : in object pair');
  assert.is(err('{"a":1 "b":2}'), 'JSON parse error, expected separator in dict');
  assert.is(err('[1 2]'), 'JSON parse error, expected separator in list');
  assert.is(err('{"a":1,}'), 'JSON parse error, expecting value');
  assert.is(err('}'), 'JSON parse error, expecting value');
  assert.is(err('{"a":"\\x"}'), 'JSON parse error, invalid escape sequence in string');
  assert.is(err('{"a":"\\uDE00"}'), 'JSON parse error, \\uDE00 is not a valid Unicode character');
  assert.is(err(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d])), 'JSON parse error, invalid UTF-8 sequence in string');
  assert.is(err('{"a":"x\ny"}'), 'JSON parse error, control character in string');
});

test('errors never quote request text (a password could be in it)', () => {
  const canary = 'hunter2CANARYxyz';
  for (const bad of [`{"password":${canary}}`, `{"password":"${canary}`, `${canary}`, `{"p":1${canary}}`]) {
    const m = err(bad);
    assert.ok(m.startsWith('JSON parse error'), m);
    assert.not.ok(m.includes('hunter2'), m);
  }
});

test('single-quoted strings (QMP extension) and escapes', () => {
  assert.equal({ ...(parse("{'a':'it\\'s','b':\"\\u00e9\\n\\/\"}") as object) }, { a: "it's", b: 'é\n/' });
  assert.is(parse('"\\uD83D\\uDE00"'), '\u{1F600}');
});

test('__proto__ is an ordinary key and pollutes nothing', () => {
  const v = parse('{"__proto__":{"polluted":true},"constructor":1}') as Record<string, unknown>;
  assert.ok(Object.prototype.hasOwnProperty.call(v, '__proto__'));
  assert.is(({} as Record<string, unknown>).polluted, undefined);
});

test('replies are pure ASCII on one line', () => {
  const line = writeJson({ return: 'é\u2028\n\u0001\ud800' });
  assert.is(line, '{"return":"\\u00E9\\u2028\\n\\u0001\\ud800"}');
  assert.ok(/^[\x20-\x7e]*$/.test(line));
  // Kept (RawJson) and written parts together: the same bytes, a key or id outside ASCII too.
  const raw = new RawJson(JSON.stringify({ mount: '/mnt/é' }));
  assert.is(writeJson({ return: raw, 'ключ': 'ü', id: 5n }), '{"return":{"mount":"/mnt/\\u00E9"},"\\u043A\\u043B\\u044E\\u0447":"\\u00FC","id":5}');
  assert.is(writeJson({ return: raw }), writeJson({ return: { mount: '/mnt/é' } }));
});

test.run();

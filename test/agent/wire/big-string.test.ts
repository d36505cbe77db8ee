// A big base64 string left in the request's bytes and decoded there must give what parsing the
// request whole and decoding the string gave: the same bytes, or the same error at the same offset.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeBase64, decodeBase64InPlace } from '../../../agent/commands/base64';
import { findBigString } from '../../../agent/wire/big-string';
import { parseJson, StringInBytes } from '../../../agent/wire/json-parse';

const request = (content: string): Buffer => Buffer.from(`{"execute":"guest-file-write","arguments":{"handle":1,"buf-b64":"${content}"}}`, 'utf8');

/** What the whole parse and decodeBase64 give, and what the in-place path gives: bytes as hex, or the error text. */
function both(content: string, min = 8): { whole: string; inPlace: string } {
  const outcome = (f: () => Buffer): string => { try { return f().toString('hex'); } catch (e) { return `error: ${(e as Error).message}`; } };
  const whole = outcome(() => decodeBase64(((parseJson(request(content)) as any).arguments['buf-b64']) as string));
  const bytes = request(content);
  const hole = findBigString(bytes, min);
  assert.ok(hole, `no big string found in ${content.slice(0, 40)}`);
  const v = parseJson(bytes, hole!) as any;
  assert.ok(v.arguments['buf-b64'] === hole, 'the big string is left in the bytes');
  return { whole, inPlace: outcome(() => decodeBase64InPlace(v.arguments['buf-b64'])) };
}

const same = (content: string, label = content.slice(0, 60)): void => {
  const r = both(content);
  assert.is(r.inPlace, r.whole, label);
};

test('plain, padded and Perl-style base64 (a "\\n" escape every 76 characters) decode as before', () => {
  for (const n of [30, 31, 32, 100, 1000]) {
    const b64 = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37) & 0xff)).toString('base64');
    same(b64, `plain ${n}`);
    same(b64.replace(/.{76}/g, '$&\\n'), `perl ${n}`);
    same(b64.replace(/\//g, '\\/'), `escaped slash ${n}`);
  }
});

test('invalid base64 in the middle, at every place in a group: the same error and offset as before', () => {
  const b64 = Buffer.alloc(60, 0x5a).toString('base64');
  for (let at = 0; at < b64.length; at++) {
    for (const bad of ['*', '=', '==', '\\"', '\\t', '\\\\', ' ']) same(b64.slice(0, at) + bad + b64.slice(at), `${JSON.stringify(bad)} at ${at}`);
  }
  same(b64.slice(0, 41), 'incomplete last group');
  same(`${b64}AA==AAAA`, 'padding then more groups');
});

test('the decoded bytes lie in the request\'s own memory: no second copy', () => {
  const bytes = request(Buffer.alloc(3000, 7).toString('base64'));
  const hole = findBigString(bytes, 8)!;
  const out = decodeBase64InPlace(hole);
  assert.ok(out.buffer === bytes.buffer, 'decoded into the request bytes');
  assert.equal(out, Buffer.alloc(3000, 7));
  assert.throws(() => decodeBase64InPlace(hole), /read twice/);
});

test('only an ASCII string with one-letter escapes, the longest of at least MIN bytes, is left in the bytes', () => {
  const find = (s: string, min = 8): string | null => { const h = findBigString(Buffer.from(s, 'utf8'), min); return h && h.bytes.toString('utf8', h.from, h.to); };
  assert.is(find('{"a":"short","b":"longer one","c":"mid-size"}'), 'longer one');
  assert.is(find("{'a':'single \"quoted\" string'}"), 'single "quoted" string');
  assert.is(find('{"a":"with \\" quote inside"}'), 'with \\" quote inside');
  assert.is(find('{"a":"AAAAAAAA\\u0041AAAA"}'), null);
  assert.is(find('{"a":"AAAAAAAAé AAAA"}'), null);
  assert.is(find('{"a":"AAAAAAA"}'), null);
  assert.is(find('{"a":"AAAAAAAA\\u0041AAAA","b":"BBBBBBBBB"}'), 'BBBBBBBBB');
});

test('a request parsed around its big string: everything else as before, the string at its place, never as a key', () => {
  const text = Buffer.from('{"arguments":{"buf-b64":"QUJDREVGR0g=","handle":9007199254740993},"id":"é","execute":"x"}', 'utf8');
  const hole = findBigString(text, 8)!;
  const v = parseJson(text, hole) as any;
  assert.ok(v.arguments['buf-b64'] instanceof StringInBytes);
  assert.equal([v.arguments.handle, v.id, v.execute, Object.keys(v)], [9007199254740993n, 'é', 'x', ['arguments', 'id', 'execute']]);
  const asKey = Buffer.from('{"QUJDREVGR0g=":1}');
  assert.throws(() => parseJson(asKey, findBigString(asKey, 8)!), /key left unread/);
  const dup = Buffer.from('{"a":"QUJDREVGR0g=","a":1}');
  assert.throws(() => parseJson(dup, findBigString(dup, 8)!), /duplicate key/);
});

test.run();

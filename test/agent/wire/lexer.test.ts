import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameLexer } from '../../../agent/wire/lexer';

/** A request of its own: an object that names `execute` (what the session checks with the parser). */
const isRequest = (t: Buffer): boolean => /^\{\s*["']execute["']/.test(t.toString('latin1')) || /,\s*["']execute["']\s*:/.test(t.toString('latin1'));

function frames(chunks: Array<string | Buffer>, limits = { maxBytes: 1 << 20, maxDepth: 1024 }): string[] {
  const out: string[] = [];
  const lx = new FrameLexer({ message: (t) => out.push(`M:${t.toString('latin1')}`), error: (e) => out.push(`E:${e}`), isRequest }, limits);
  for (const c of chunks) lx.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
  return out;
}

const SYNC = '{"execute":"guest-sync","arguments":{"id":1}}';

test('several requests in one write are split by balanced braces, not newlines', () => {
  assert.equal(frames(['{"a":1}{"b":[1,{"c":2}]} {"d":"}"}']), ['M:{"a":1}', 'M:{"b":[1,{"c":2}]}', 'M:{"d":"}"}']);
});

test('one request across many writes, byte by byte', () => {
  const req = '{"execute":"guest-sync","arguments":{"id":123}}';
  assert.equal(frames(req.split('')), [`M:${req}`]);
});

test('braces inside strings and escaped quotes do not count', () => {
  assert.equal(frames(['{"a":"{[\\"}"}', "{'b':'}\\''}"]), ['M:{"a":"{[\\"}"}', "M:{'b':'}\\''}"]);
});

test('newlines between the tokens of a request are whitespace', () => {
  assert.equal(frames(['{"a":\n1\n}\n']), ['M:{"a":\n1\n}']);
  assert.equal(frames(['{\n  "execute": "guest-info",\n  "arguments": {\n  }\n}\n']), ['M:{\n  "execute": "guest-info",\n  "arguments": {\n  }\n}']);
});

test('top-level scalars are framed alone for the parser to reject', () => {
  assert.equal(frames(['1 "x" hello {"a":1}']), ['M:1', 'M:"x"', 'M:hello', 'M:{"a":1}']);
});

test('stray closers and separators at the top level: one error per line, not one per byte', () => {
  assert.equal(frames(['} {"a":1}']), ['E:JSON parse error, expecting value', 'M:{"a":1}']);
  assert.equal(frames([',,,,', ',,,,\n', SYNC]), ['E:JSON parse error, expecting value', `M:${SYNC}`]);
  assert.equal(frames([',\n:\n]\n']), ['E:JSON parse error, expecting value', 'E:JSON parse error, expecting value', 'E:JSON parse error, expecting value']);
  const out = frames([Buffer.alloc(1 << 20, ','), '\n', SYNC]);
  assert.equal(out, ['E:JSON parse error, expecting value', `M:${SYNC}`]);
});

test('0xFF discards the partial request and yields one error, then framing resumes', () => {
  assert.equal(frames(['{"execute":"gu', Buffer.from([0xff]), '{"execute":"guest-ping"}']),
    ["E:JSON parse error, stray '\ufffd'", 'M:{"execute":"guest-ping"}']);
});

test('0xFF inside a string resets too', () => {
  assert.equal(frames([Buffer.concat([Buffer.from('{"a":"x'), Buffer.from([0xff]), Buffer.from('{}')])]),
    ["E:JSON parse error, stray '\ufffd'", 'M:{}']);
});

test('a run of 0xFF bytes yields a single error', () => {
  assert.equal(frames([Buffer.from([0xff, 0xff, 0xff]), '{}']), ["E:JSON parse error, stray '\ufffd'", 'M:{}']);
});

test('control bytes reset and are named; TAB, CR, LF are whitespace between tokens', () => {
  assert.equal(frames(['\t\r\n{}\x01{}', '\x00']), ['M:{}', "E:JSON parse error, stray '\x01'", 'M:{}', "E:JSON parse error, stray '\x00'"]);
});

test('a newline, TAB or other control byte inside a string ends it with an error, and the next line is read', () => {
  // The cases real clients hit: a stray quote, a half-written request, NUL, an unterminated id.
  assert.equal(frames(['"\n', SYNC]), ["E:JSON parse error, stray '\n'", `M:${SYNC}`]);
  assert.equal(frames(['hello"world\n', SYNC]), ['M:hello', "E:JSON parse error, stray '\n'", `M:${SYNC}`]);
  assert.equal(frames(['{"execute":"guest-\x00ping"}\n', SYNC]), ["E:JSON parse error, stray '\x00'", `M:${SYNC}`]);
  assert.equal(frames(['{"execute":"guest-ping","id":"abc}\n', SYNC]), ["E:JSON parse error, stray '\n'", `M:${SYNC}`]);
  assert.equal(frames(['{"id":"a\tb"}\n', SYNC]), ["E:JSON parse error, stray '\t'", `M:${SYNC}`]);
  assert.equal(frames(["'abc\r\n", SYNC]), ["E:JSON parse error, stray '\r'", `M:${SYNC}`]);
  assert.equal(frames(['"abc\\\n', SYNC]), ["E:JSON parse error, stray '\n'", `M:${SYNC}`]);
});

test('after an error, input is skipped to the next brace or newline (where qemu-ga recovers)', () => {
  assert.equal(frames(['"a\x01 garbage "more" junk{"execute":"guest-ping"}']), ["E:JSON parse error, stray '\x01'", 'M:{"execute":"guest-ping"}']);
  assert.equal(frames(['\x80\x81abc\n', SYNC]), ["E:JSON parse error, stray '\ufffd'", `M:${SYNC}`]);
});

test('an unfinished request cannot swallow the next line when that line is a request of its own', () => {
  for (const prefix of ['{\n', '{"arguments":\n', '{"execute":"guest-ping",\n', '{"execute":"guest-ping"\n', '[[[[\n', '{"a":[{"b":\r\n']) {
    assert.equal(frames([prefix, SYNC + '\n', SYNC]),
      ['E:JSON parse error, unfinished request abandoned: a new request began on the next line', `M:${SYNC}`, `M:${SYNC}`], prefix);
  }
  // Byte by byte, and with the line's request split across writes.
  assert.equal(frames(('{"x":\n  ' + SYNC).split('')).length, 2);
});

test('a line inside a request that is not a request of its own stays part of it', () => {
  assert.equal(frames(['{"execute":"guest-exec","arguments":\n{"path":"/bin/true"}\n}']),
    ['M:{"execute":"guest-exec","arguments":\n{"path":"/bin/true"}\n}']);
});

test('nesting beyond the limit gives one error and skips the rest of that request only', () => {
  const deep = '['.repeat(50) + ']'.repeat(50);
  assert.equal(frames([deep + '{"ok":1}'], { maxBytes: 1 << 20, maxDepth: 32 }), ['E:JSON nesting depth limit exceeded', 'M:{"ok":1}']);
});

test('an over-deep unfinished request does not swallow the next request line', () => {
  assert.equal(frames(['['.repeat(2000) + '\n', SYNC], { maxBytes: 1 << 20, maxDepth: 1024 }),
    ['E:JSON nesting depth limit exceeded', 'E:JSON parse error, unfinished request abandoned: a new request began on the next line', `M:${SYNC}`]);
});

test('a request over the size limit gives one error, memory stays bounded, the next request works', () => {
  const out: string[] = [];
  const lx = new FrameLexer({ message: (t) => out.push(`M:${t.length}`), error: (e) => out.push(`E:${e.slice(0, 30)}`), isRequest }, { maxBytes: 1000, maxDepth: 1024 });
  lx.push(Buffer.from('{"x":"'));
  const chunk = Buffer.alloc(65536, 0x61);
  for (let i = 0; i < 200; i++) lx.push(chunk); // 13 MB
  lx.push(Buffer.from('"}{"ok":1}'));
  assert.equal(out, ['E:JSON token size limit exceeded', 'M:8']);
  assert.ok((lx as unknown as { msg: { size: number } }).msg.size === 0);
});

test('a message of exactly the limit passes, one byte more does not', () => {
  const req = '{"execute":"guest-ping"}';
  assert.equal(frames([req], { maxBytes: req.length, maxDepth: 8 }), [`M:${req}`]);
  assert.equal(frames([req], { maxBytes: req.length - 1, maxDepth: 8 }).map((x) => x.slice(0, 32)), ['E:JSON token size limit exceeded']);
});

test('a big message keeps the block it was gathered in: no second copy, however large the limit', () => {
  const got: Buffer[] = [];
  const lx = new FrameLexer({ message: (t) => got.push(t), error: () => {}, isRequest }, { maxBytes: 64 << 20, maxDepth: 8 });
  const req = Buffer.from(`{"x":"${'a'.repeat(3 << 20)}"}`);
  for (let i = 0; i < req.length; i += 65536) lx.push(req.subarray(i, i + 65536));
  assert.is(got.length, 1);
  assert.ok(got[0].equals(req));
  assert.is(got[0].buffer.byteLength, (64 << 20) + 1, 'handed out in its own block');
});

test('random bytes, then a newline and a request: the request is always framed', () => {
  let seed = 7;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  for (let round = 0; round < 2000; round++) {
    const junk = Buffer.alloc(1 + rnd(64));
    for (let i = 0; i < junk.length; i++) junk[i] = rnd(4) === 0 ? '{}[]"\'\\,:\n'.charCodeAt(rnd(11)) : rnd(256);
    const out = frames([junk, '\n' + SYNC + '\n']);
    assert.ok(out.includes(`M:${SYNC}`), `round ${round}: ${junk.toString('hex')} -> ${JSON.stringify(out)}`);
  }
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameLexer } from '../../../agent/wire/lexer';

function frames(chunks: Array<string | Buffer>, limits = { maxBytes: 1 << 20, maxDepth: 1024 }): string[] {
  const out: string[] = [];
  const lx = new FrameLexer({ message: (t) => out.push(`M:${t.toString('latin1')}`), error: (e) => out.push(`E:${e}`) }, limits);
  for (const c of chunks) lx.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
  return out;
}

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

test('newlines inside a request are whitespace', () => {
  assert.equal(frames(['{"a":\n1\n}\n']), ['M:{"a":\n1\n}']);
});

test('top-level scalars and stray closers are framed alone for the parser to reject', () => {
  assert.equal(frames(['1 "x" } {"a":1}']), ['M:1', 'M:"x"', 'M:}', 'M:{"a":1}']);
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

test('control bytes reset and are named; TAB, CR, LF are whitespace', () => {
  assert.equal(frames(['\t\r\n{}\x01{}', '\x00']), ['M:{}', "E:JSON parse error, stray '\x01'", 'M:{}', "E:JSON parse error, stray '\x00'"]);
});

test('nesting beyond the limit gives one error and skips the rest of that request only', () => {
  const deep = '['.repeat(50) + ']'.repeat(50);
  assert.equal(frames([deep + '{"ok":1}'], { maxBytes: 1 << 20, maxDepth: 32 }), ['E:JSON nesting depth limit exceeded', 'M:{"ok":1}']);
});

test('a request over the size limit gives one error, memory stays bounded, the next request works', () => {
  const out: string[] = [];
  const lx = new FrameLexer({ message: (t) => out.push(`M:${t.length}`), error: (e) => out.push(`E:${e.slice(0, 30)}`) }, { maxBytes: 1000, maxDepth: 1024 });
  lx.push(Buffer.from('{"x":"'));
  const chunk = Buffer.alloc(65536, 0x61);
  for (let i = 0; i < 200; i++) lx.push(chunk); // 13 MB
  lx.push(Buffer.from('"}{"ok":1}'));
  assert.equal(out, ['E:JSON token size limit exceeded', 'M:8']);
  assert.ok((lx as unknown as { size: number }).size === 0);
});

test.run();

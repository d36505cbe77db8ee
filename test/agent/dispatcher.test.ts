// The dispatcher reads `{"execute":"NAME"}` without its JSON parser. Whatever the form of a
// request, parse must give what the parser and the envelope check give, and run the same reply.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Command } from '../../agent/commands/command';
import { createDispatcher } from '../../agent/dispatcher';
import { readEnvelope } from '../../agent/wire/envelope';
import { parseJson } from '../../agent/wire/json-parse';

const ping = {
  name: 'guest-ping', description: '', args: { check: (v: unknown) => { if (Object.keys(v as object).length) throw new Error('no arguments expected'); return v; } },
  run: () => ({}),
} as unknown as Command<never>;
const name = {
  name: 'guest-get-host-name', description: '', args: { check: (v: unknown) => v },
  run: (a: Record<string, unknown>) => ({ 'host-name': 'vm', args: Object.keys(a).length }),
} as unknown as Command<never>;

const dispatcher = () => createDispatcher([ping, name], { freezer: { status: () => 'thawed' } } as never, { allow: null, block: [] }, {} as never, () => {});

const FORMS = [
  // The bare form, as libvirt writes a command without arguments, and with the whitespace JSON allows.
  '{"execute":"guest-ping"}', '{"execute":"guest-get-host-name"}', '{ "execute" : "guest-ping" }', '{\n\t"execute":\r\n"guest-ping"\n}',
  // An unknown command, one whose name the bare form does not take, escapes.
  '{"execute":"guest-nope"}', '{"execute":"Guest-Ping"}', '{"execute":"guest_ping"}', '{"execute":"guest\\u002dping"}', `{"execute":"${'a'.repeat(65)}"}`,
  // Forms beside it: an id, arguments, two members, single quotes, a duplicate, a wrong type.
  '{"execute":"guest-ping","id":7}', '{"id":"x","execute":"guest-ping"}', '{"execute":"guest-get-host-name","arguments":{"a":1}}',
  "{'execute':'guest-ping'}", '{"execute":"guest-ping","execute":"guest-ping"}', '{"execute":1}', '{"execute":"guest-ping"', '{"execute":"guest-ping","x":1}',
];

test('every form parses as the parser and the envelope check read it', () => {
  const d = dispatcher();
  for (const text of FORMS) {
    const got = d.parse(Buffer.from(text));
    let want: unknown;
    try {
      const request = readEnvelope(parseJson(Buffer.from(text)));
      want = { request, command: [ping, name].find((c) => c.name === request.execute) };
    } catch {
      want = 'reply';
    }
    if (want === 'reply') assert.ok(got.reply, `${text}: an error reply`);
    else {
      assert.equal(got, want, text);
      assert.is(Object.getPrototypeOf(got.request!.args), null, `${text}: arguments have no prototype`);
    }
  }
});

test('the bare form runs and answers as the parsed one', () => {
  const d = dispatcher();
  const run = (text: string) => d.run(d.parse(Buffer.from(text)));
  assert.equal(run('{"execute":"guest-get-host-name"}'), { line: '{"return":{"host-name":"vm","args":0}}', delimited: false });
  assert.equal(run('{ "execute" : "guest-ping" }'), { line: '{"return":{}}', delimited: false });
  assert.equal(run('{"execute":"guest-ping","id":7}'), { line: '{"return":{},"id":7}', delimited: false });
  assert.equal(run('{"execute":"guest-nope"}'), { line: '{"error":{"class":"CommandNotFound","desc":"The command guest-nope has not been found"}}', delimited: false });
});

test.run();

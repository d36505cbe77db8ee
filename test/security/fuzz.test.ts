// Fuzzing every command's arguments, for a bounded time (PGA_FUZZ_SECONDS, default 10 per part;
// the seed is printed so a failure can be replayed with PGA_FUZZ_SEED):
// 1. In-process, each command's argument schema gets random values shaped after it (right and
//    wrong types, edge numbers, hostile strings): it must accept or refuse with a qemu-ga error,
//    never throw anything else.
// 2. Over the wire, the built agent gets random requests for every command it has: each gets
//    exactly one reply with its id, no reply is an internal error (an exception that escaped a
//    handler), and the same worker serves to the end. The agent runs in its own UTS and network
//    namespaces on a root tree (--os-root), so a request that happens to be valid changes only
//    those; the commands that act on the whole machine whatever the namespaces (the clock,
//    power, freezing file systems, CPUs and memory, running programs, files anywhere) are blocked.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { commandTable } from '../../agent/commands/table';
import { QgaError } from '../../agent/wire/reply';
import type { JsonValue } from '../../agent/wire/json-parse';
import { startAgent } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { makeTree } from '../helpers/root-tree';

const SECONDS = Number(process.env.PGA_FUZZ_SECONDS ?? 10);
const SEED = Number(process.env.PGA_FUZZ_SEED ?? Date.now() % 1e9);

function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    // xorshift32
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s % n;
  };
}

const WORDS = ['root', 'alice', 'nobody', 'eth0', 'lo', 'docker0', '192.0.2.7', '2001:db8::1', '0.0.0.0', '255.255.255.255', '/', '/tmp', '/etc/shadow',
  '../../etc/passwd', 'w', 'r+', 'set', 'cur', 'end', 'halt', 'reboot', 'powerdown', 'merged', 'separated', '', ' ', 'a'.repeat(5000), '$(reboot)',
  '`id`', ';rm -rf /', '|true', '\n', '\r\n', '\0', '\u202e', '\u00ff', '%s%s%n', '\\', '"', "'", 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGd', 'AAAA====',
  'aGVsbG8=', 'aGVs\nbG8=\n', '$6$salt$hash', 'null', 'true', '1e400', '-1', 'host-name', 'x.example', '1.2.3.4', 'a..b', '-x', '*', '?', '[', '\uD800'];

function value(r: (n: number) => number, depth = 0): JsonValue {
  switch (r(depth > 2 ? 5 : 8)) {
    case 0: return null;
    case 1: return r(2) === 0;
    case 2: return [0, -1, 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, 1.5, -0.0001, 1e300, 4294967295, 65534, 1000][r(12)];
    case 3: return BigInt('9223372036854775807') + BigInt(r(3));
    case 4: return WORDS[r(WORDS.length)];
    case 5: return Array.from({ length: r(4) }, () => value(r, depth + 1));
    case 6: {
      const o: Record<string, JsonValue> = Object.create(null);
      for (let i = r(4); i > 0; i--) o[WORDS[r(12)]] = value(r, depth + 1);
      return o;
    }
    default: return String.fromCharCode(...Array.from({ length: r(40) }, () => r(4) === 0 ? r(0x20) : 0x20 + r(0x2ff)));
  }
}

interface Shaped { kind: string; fields?: Record<string, unknown> }

/** A value shaped after schema S most of the time, anything some of the time. */
function shaped(s: Shaped, r: (n: number) => number, depth = 0): JsonValue {
  if (r(5) === 0 || depth > 4) return value(r, depth);
  switch (s.kind) {
    case 'integer': return [0, 1, -1, 2, 10, 1000, 65535, 2 ** 31, 2 ** 53 + 1, -5][r(10)];
    case 'boolean': return r(2) === 0;
    case 'string': return WORDS[r(WORDS.length)];
    case 'array': return Array.from({ length: r(5) }, () => r(2) ? WORDS[r(WORDS.length)] : value(r, depth + 1));
    case 'object': {
      const o: Record<string, JsonValue> = Object.create(null);
      for (const [k, f] of Object.entries(s.fields ?? {})) {
        if (r(4) === 0) continue;
        const fs = (f as { optional?: Shaped }).optional ?? (f as Shaped);
        o[k] = shaped(fs, r, depth + 1);
      }
      if (r(8) === 0) o[WORDS[r(WORDS.length)]] = value(r, depth + 1);
      return o;
    }
  }
  return value(r, depth);
}

test(`every command's argument schema accepts or refuses with a qemu-ga error, never throws otherwise (${SECONDS} s, seed ${SEED})`, () => {
  const r = rng(SEED);
  const commands = commandTable({ testCommands: false });
  const end = Date.now() + SECONDS * 1000;
  let n = 0;
  while (Date.now() < end) {
    for (const c of commands) {
      const args = shaped(c.args as unknown as Shaped, r);
      try {
        c.args.check(args, '');
      } catch (e) {
        if (!(e instanceof QgaError)) throw new Error(`${c.name} with ${JSON.stringify(args, (_, v) => typeof v === 'bigint' ? v.toString() : v)}: ${(e as Error).stack}`);
        assert.ok(e.desc.length < 600, `${c.name}: an error text of ${e.desc.length} characters`);
      }
      n++;
    }
  }
  console.log(`    ${n} argument sets over ${commands.length} commands`);
});

// Act on the whole machine whatever namespaces the agent runs in.
const BLOCKED = ['guest-set-time', 'guest-shutdown', 'guest-suspend-disk', 'guest-suspend-ram', 'guest-suspend-hybrid', 'guest-fsfreeze-freeze',
  'guest-fsfreeze-freeze-list', 'guest-fsfreeze-thaw', 'guest-fstrim', 'guest-exec', 'guest-exec-status', 'guest-set-vcpus', 'guest-set-memory-blocks',
  'guest-file-open', 'guest-file-read', 'guest-file-write', 'guest-file-seek', 'guest-file-flush', 'guest-file-close'];

test(`random requests for every command over the wire: one reply each, with its id, none an internal error, the same worker (${SECONDS} s, seed ${SEED})`, async () => {
  const tree = makeTree();
  const agent = startAgent({ interval: 1, hangTimeout: 30, wrap: ['unshare', '--uts', '--net', '--'], args: ['--os-root', tree.root, '--block-rpcs', BLOCKED.join(',')] });
  try {
    const pid = await agent.waitReady(10_000);
    const c = await QgaClient.connect(agent.sock);
    const info = await c.request('guest-info');
    const commands = commandTable({ testCommands: false });
    const names = (info.return.supported_commands as Array<{ name: string }>).map((x) => x.name);
    const r = rng(SEED + 1);
    const end = Date.now() + SECONDS * 1000;
    let n = 0;
    const byReply = new Map<string, number>();
    while (Date.now() < end) {
      const name = r(20) === 0 ? WORDS[r(WORDS.length)] : names[r(names.length)];
      const cmd = commands.find((x) => x.name === name);
      const args = cmd ? shaped(cmd.args as unknown as Shaped, r) : value(r);
      const id = `f${n}`;
      const req = JSON.stringify({ execute: name, arguments: args, id }, (_, v) => typeof v === 'bigint' ? `__BIG${v}__` : v).replace(/"__BIG(\d+)__"/g, '$1');
      c.write(req + '\n');
      const line = await c.nextLine(15_000).catch((e) => { throw new Error(`no reply to ${req.slice(0, 300)}: ${(e as Error).message}`); });
      const reply = JSON.parse(line.replace(/^\xff/, ''));
      // A request that is not valid JSON (a lone surrogate escape) is answered without its id, as qemu-ga does.
      const unparsed = reply.error && reply.id === undefined && /^JSON parse error, /.test(reply.error.desc);
      if (!unparsed) assert.is(reply.id, id, `the reply to ${req.slice(0, 300)} is ${line.slice(0, 300)}`);
      if (reply.error) {
        assert.not.match(reply.error.desc, /internal error/, `${req.slice(0, 300)} -> ${line.slice(0, 300)}`);
        const kind = `${name}: ${reply.error.class}`;
        byReply.set(kind, (byReply.get(kind) ?? 0) + 1);
      } else {
        byReply.set(`${name}: ok`, (byReply.get(`${name}: ok`) ?? 0) + 1);
      }
      n++;
    }
    c.close();
    assert.is(agent.workerPid(), pid, 'the worker was restarted during the fuzz');
    const ok = [...byReply].filter(([k]) => k.endsWith(': ok')).length;
    console.log(`    ${n} requests; ${ok} commands answered at least once with success`);
    assert.not.match(agent.output(), /uncaught|internal error/i);
  } finally {
    await agent.stop();
  }
});

test.run();

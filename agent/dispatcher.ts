// One framed request in, one reply line out: parse, check the envelope, find the command, check
// that it is enabled, validate its arguments, run it. Nothing a request contains can throw past
// here, and no error text repeats request values that could be secrets.

import { FREEZE_SAFE } from './actions/filesystems';
import type { Command, CommandContext } from './commands/command';
import type { ExactlyOnce } from './journal/exactly-once';
import { BIG_STRING, findBigString } from './wire/big-string';
import { readEnvelope, Request, requestId } from './wire/envelope';
import { JsonObject, JsonSyntaxError, JsonValue, parseJson } from './wire/json-parse';
import { errorLine, NO_ID, QgaError, RequestId, successLine } from './wire/reply';

export interface Reply {
  line: string;
  /** Send 0xFF before the line (guest-sync-delimited). */
  delimited: boolean;
}

export type Outcome = Reply | null;

/** A framed message, parsed: a request to run, or a reply already decided (a syntax or envelope error). */
export type Parsed =
  | { request: Request; command: Command<never> | undefined; reply?: undefined }
  | { reply: Reply; request?: undefined };

/** Journal steps of a running command, as the channel's reply ledger records them. */
export type Progress = (step: 'started' | 'done' | 'failed') => void;

export interface Dispatcher {
  /** Parses one framed message; cheap, no side effect, no check that depends on the agent's state. */
  parse(text: Buffer): Parsed;
  /** Checks a parsed request against the agent's state now (enabled, frozen, arguments) and runs it. */
  run(p: Parsed, progress?: Progress): Outcome | Promise<Outcome>;
  lexicalError(desc: string): Outcome;
  /** New allow/block lists (a reload of the config): they count from the next request on. */
  setPolicy(policy: RpcPolicy): void;
}

export interface RpcPolicy { allow: string[] | null; block: string[] }

const KEY = /^[A-Za-z0-9._:@-]{1,128}$/;

/**
 * A request that is only `{"execute":"NAME"}` (libvirt's form of every command without
 * arguments): its envelope is known without decoding and parsing it. Anything else (arguments,
 * an id, escapes, another name) goes through the parser.
 */
const BARE = /^\{[ \t\r\n]*"execute"[ \t\r\n]*:[ \t\r\n]*"([a-z0-9-]{1,64})"[ \t\r\n]*\}$/;

/** Takes the `idempotency-key` argument off a mutating command's arguments. */
function splitKey(args: JsonObject): { key: string | undefined; rest: JsonObject } {
  if (!Object.prototype.hasOwnProperty.call(args, 'idempotency-key')) return { key: undefined, rest: args };
  const { 'idempotency-key': key, ...rest } = args;
  if (typeof key !== 'string') throw new QgaError('GenericError', "Invalid parameter type for 'idempotency-key', expected: string");
  if (!KEY.test(key)) throw new QgaError('GenericError', "Parameter 'idempotency-key' must be 1 to 128 of A-Z a-z 0-9 . _ : @ -");
  return { key, rest: rest as JsonObject };
}

export function createDispatcher(commands: readonly Command<never>[], ctx: Omit<CommandContext, 'commands' | 'isEnabled'>,
  policy: RpcPolicy, mutations: ExactlyOnce, onInternalError: (name: string, e: unknown) => void): Dispatcher {
  const byName = new Map(commands.map((c) => [c.name, c]));
  let blocked = new Set(policy.block);
  let allowed = policy.allow ? new Set(policy.allow) : null;
  const isEnabled = (name: string): boolean => !blocked.has(name) && (allowed === null || allowed.has(name));
  let full: CommandContext = { ...ctx, commands, isEnabled };

  const fail = (e: unknown, id: RequestId, name: string): Reply => {
    if (e instanceof QgaError) return { line: errorLine(e.cls, e.desc, id), delimited: false };
    onInternalError(name, e);
    return { line: errorLine('GenericError', `internal error in ${name}; see the agent log`, id), delimited: false };
  };

  /** A big request whose big string is an argument its command decodes in place (see big-string.ts), else undefined. */
  const parseBig = (text: Buffer): Parsed | undefined => {
    const hole = findBigString(text);
    if (!hole) return undefined;
    let request: Request;
    // Any doubt (an error, the string elsewhere), and the request is parsed whole as before.
    try { request = readEnvelope(parseJson(text, hole)); } catch { return undefined; }
    const { args } = request;
    const command = byName.get(request.execute);
    const key = Object.keys(args).find((k) => args[k] === hole);
    const field = command && key !== undefined ? (command.args as { fields?: Record<string, { inPlace?: true }> }).fields?.[key] : undefined;
    return field?.inPlace ? { request, command } : undefined;
  };

  return {
    setPolicy(p) {
      blocked = new Set(p.block);
      allowed = p.allow ? new Set(p.allow) : null;
      // A new context: what commands keep per context (guest-info's reply) is made again.
      full = { ...ctx, commands, isEnabled };
    },
    lexicalError: (desc) => ({ line: errorLine('GenericError', desc, NO_ID), delimited: false }),
    parse(text) {
      const bare = text.length <= 96 ? BARE.exec(text.toString('latin1')) : null;
      if (bare) return { request: { execute: bare[1], args: Object.create(null) as JsonObject, id: { present: false } }, command: byName.get(bare[1]) };
      const big = text.length > BIG_STRING ? parseBig(text) : undefined;
      if (big) return big;
      let value: JsonValue;
      try {
        value = parseJson(text);
      } catch (e) {
        if (e instanceof JsonSyntaxError) return { reply: { line: errorLine('GenericError', e.message, NO_ID), delimited: false } };
        throw e;
      }
      try {
        const request = readEnvelope(value);
        return { request, command: byName.get(request.execute) };
      } catch (e) {
        return { reply: fail(e, requestId(value), '?') };
      }
    },
    run(p, progress) {
      if (p.reply) return p.reply;
      const req = p.request;
      const { id } = req;
      const name = req.execute;
      try {
        const cmd = p.command;
        if (!cmd) throw new QgaError('CommandNotFound', `The command ${req.execute.slice(0, 128)} has not been found`);
        if (!isEnabled(cmd.name)) throw new QgaError('CommandNotFound', `Command ${cmd.name} has been disabled`);
        if (ctx.freezer.status() === 'frozen' && !FREEZE_SAFE.has(cmd.name)) {
          throw new QgaError('CommandNotFound', `Command ${cmd.name} has been disabled: the agent is in frozen state`);
        }
        const { key, rest } = cmd.mutating ? splitKey(req.args) : { key: undefined, rest: req.args };
        const args = cmd.args.check(rest, '') as Record<string, unknown>;
        const result = cmd.mutating
          ? mutations.run({ cmd: cmd.name, key, publicArgs: withoutSecrets(args, cmd.secret), secretArgs: onlySecrets(args, cmd.secret), run: async () => cmd.run(args as never, full), progress })
          : cmd.run(args as never, full);
        const finish = (r: unknown): Outcome =>
          cmd.successResponse === false ? null : { line: successLine(r ?? {}, id), delimited: cmd.delimited === true };
        if (result instanceof Promise) return result.then(finish, (e) => fail(e, id, name));
        return finish(result);
      } catch (e) {
        return fail(e, id, name);
      }
    },
  };
}

function withoutSecrets(args: Record<string, unknown>, secret: string[] | undefined): Record<string, unknown> {
  if (!secret) return args;
  const out = { ...args };
  for (const k of secret) delete out[k];
  return out;
}

function onlySecrets(args: Record<string, unknown>, secret: string[] | undefined): Record<string, unknown> | undefined {
  return secret && Object.fromEntries(secret.map((k) => [k, args[k]]));
}

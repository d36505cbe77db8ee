// One framed request in, one reply line out: parse, check the envelope, find the command, check
// that it is enabled, validate its arguments, run it. Nothing a request contains can throw past
// here, and no error text repeats request values that could be secrets.

import type { Command, CommandContext } from './commands/command';
import { readEnvelope, requestId } from './wire/envelope';
import { JsonSyntaxError, JsonValue, parseJson } from './wire/json-parse';
import { errorLine, NO_ID, QgaError, RequestId, successLine } from './wire/reply';

export interface Reply {
  line: string;
  /** Send 0xFF before the line (guest-sync-delimited). */
  delimited: boolean;
}

export type Outcome = Reply | null;

export interface Dispatcher {
  dispatch(text: Buffer): Outcome | Promise<Outcome>;
  lexicalError(desc: string): Outcome;
}

export function createDispatcher(commands: readonly Command<never>[], ctx: Omit<CommandContext, 'commands' | 'isEnabled'>,
  policy: { allow: string[] | null; block: string[] }, onInternalError: (name: string, e: unknown) => void): Dispatcher {
  const byName = new Map(commands.map((c) => [c.name, c]));
  const blocked = new Set(policy.block);
  const allowed = policy.allow ? new Set(policy.allow) : null;
  const isEnabled = (name: string): boolean => !blocked.has(name) && (allowed === null || allowed.has(name));
  const full: CommandContext = { ...ctx, commands, isEnabled };

  const fail = (e: unknown, id: RequestId, name: string): Reply => {
    if (e instanceof QgaError) return { line: errorLine(e.cls, e.desc, id), delimited: false };
    onInternalError(name, e);
    return { line: errorLine('GenericError', `internal error in ${name}; see the agent log`, id), delimited: false };
  };

  return {
    lexicalError: (desc) => ({ line: errorLine('GenericError', desc, NO_ID), delimited: false }),
    dispatch(text) {
      let value: JsonValue;
      try {
        value = parseJson(text);
      } catch (e) {
        if (e instanceof JsonSyntaxError) return { line: errorLine('GenericError', e.message, NO_ID), delimited: false };
        throw e;
      }
      let id = requestId(value);
      let name = '?';
      try {
        const req = readEnvelope(value);
        id = req.id;
        name = req.execute;
        const cmd = byName.get(req.execute);
        if (!cmd) throw new QgaError('CommandNotFound', `The command ${req.execute.slice(0, 128)} has not been found`);
        if (!isEnabled(cmd.name)) throw new QgaError('CommandNotFound', `Command ${cmd.name} has been disabled`);
        const args = cmd.args.check(req.args, '') as never;
        const result = cmd.run(args, full);
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

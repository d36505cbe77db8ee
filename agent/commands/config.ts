// phoenix-set-config and phoenix-get-config: the agent's own configuration over the channel, so a
// panel can provision a server it has no login on (zero-touch: one call on first contact).

import { getConfig } from '../actions/config-get';
import { CHANNEL_KEYS, setConfig } from '../actions/config';
import { createSystem } from '../os/system';
import { QgaError } from '../wire/reply';
import { command } from './command';
import { arrayOf, int, noArgs, object, oneOf, optional, Schema, str } from './schema';

/** A JSON number (seconds may have a fraction); its range is the config file's, checked after. */
const seconds = (doc: string): Schema<number> => ({
  kind: 'number',
  doc,
  check(v, name) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new QgaError('GenericError', `Invalid parameter type for '${name}', expected: number`);
    return v;
  },
});

const rpcs = (doc: string) => optional(arrayOf(str({ maxLength: 64 }), { maxItems: 256, doc }));

/** The agent's own files are the running system's, whatever tree the worker changes (os-root). */
const ownSystem = () => createSystem('/');

export const configCommands = [
  command({
    name: 'phoenix-set-config',
    description: 'Set the heartbeat (collector, key, interval), the VM id, the statistics settings and the allow/block lists: each checked as the config file checks it, the config file and the key file written atomically (root, 0600), applied live without a restart and without a break in the heartbeat sequence; the reply lists what changed (the key only as "changed"). Keys that a command-line flag sets are refused.',
    args: object({
      heartbeat: optional(str({ maxLength: 64, doc: "collector 'IPv4:PORT' or '[IPv6]:PORT', or 'off'" })),
      key: optional(str({ maxLength: 4096, doc: 'heartbeat key: 64 to 256 hex digits (secret: never echoed, logged or journaled)' })),
      'key-id': optional(str({ maxLength: 64, doc: "key id, 1 to 32 of A-Z a-z 0-9 . _ : - (only with 'key')" })),
      'vm-id': optional(str({ maxLength: 128, doc: 'VM id in the heartbeat, 1 to 64 of A-Z a-z 0-9 . _ : -' })),
      'heartbeat-interval': optional(seconds('seconds between heartbeats, 0.05 to 3600')),
      'stats-interval': optional(int({ doc: 'seconds between statistics samples, 1 to 3600' })),
      'stats-history': optional(int({ doc: 'statistics samples kept, 10 to 10000' })),
      'allow-rpcs': rpcs('only these commands are enabled (phoenix-set-config must stay in it)'),
      'block-rpcs': rpcs('these commands are disabled ([]: none); excludes allow-rpcs'),
      reset: optional(arrayOf(oneOf(CHANNEL_KEYS), { maxItems: CHANNEL_KEYS.length, doc: 'keys whose lines are removed from the config file: back to the default' })),
    }),
    mutating: true,
    secret: ['key'],
    run: (a, ctx) => setConfig({ sys: ownSystem(), supervisor: ctx.supervisor }, a),
  }),
  command({
    name: 'phoenix-get-config',
    description: 'The configuration in effect, each key with where it came from (default, config file line, command-line flag, set over the channel, phoenix-set-stats) and any value in the file still to apply; of the heartbeat key only its id and whether one is set.',
    args: noArgs,
    run: (_a, ctx) => getConfig({ sys: ownSystem(), supervisor: ctx.supervisor, stats: ctx.stats }),
  }),
];

// phoenix-release-put, phoenix-release-status and phoenix-release-apply: a new version of the agent
// pushed over the channel, checked against the installed release keys, and applied with an
// automatic rollback (docs/updates.md).

import path = require('path');
import { settingsOf } from '../actions/config';
import { applyRelease } from '../actions/release-apply';
import { MAX_CHUNK_BYTES, putChunk, releaseStatus } from '../actions/release-upload';
import { DEFAULT_WINDOW_S, libOf } from '../../supervisor/update/layout';
import { createSystem } from '../os/system';
import type { Settings } from '../../supervisor/settings';
import { QgaError } from '../wire/reply';
import { command, CommandContext } from './command';
import { int, object, optional, str } from './schema';

/** The agent's own files are the running system's, whatever tree the worker changes (os-root). */
const ownSystem = () => createSystem('/');

/** The settings in effect; refuses when the server's owner turned updates off. */
async function allowed(ctx: CommandContext): Promise<Settings> {
  const s = settingsOf(await ctx.supervisor.status());
  if (s.updates === 'off') throw new QgaError('GenericError', `updates over the channel are off in this server's configuration (updates = off in ${s.configFile ?? 'the config file'})`);
  return s;
}
const version = str({ maxLength: 64, doc: 'release version, MAJOR.MINOR.PATCH[-PRE]' });

export const releaseCommands = [
  command({
    name: 'phoenix-release-put',
    description: `Write one chunk (at most ${MAX_CHUNK_BYTES} bytes) of a release file into the upload of \`version\` (root's staging directory); \`offset\` is where it goes (at most the size present: a resend replaces the rest); with \`sha256\`, the whole file is checked after the chunk. A new version's upload replaces another unfinished one.`,
    args: object({
      version,
      file: str({ maxLength: 64, doc: 'manifest.json, manifest.sig, or a file the release carries (supervisor.js, agent.js, agent-rare.js, ctl.js, node, init/...)' }),
      offset: int({ min: 0, max: 2 ** 32, doc: 'byte offset of this chunk in the file' }),
      data: str({ maxLength: Math.ceil(MAX_CHUNK_BYTES / 3) * 4 + 4096, doc: 'the chunk, base64' }),
      sha256: optional(str({ maxLength: 64, doc: "the whole file's sha256, to check it after this chunk (its last)" })),
    }),
    mutating: true,
    run: async (a, ctx) => putChunk({ sys: ownSystem(), stateDir: ctx.config.stateDir, maxBytes: (await allowed(ctx)).updateMaxBytes }, a),
  }),
  command({
    name: 'phoenix-release-status',
    description: 'What the upload of `version` holds: each file with its size (and the size the uploaded manifest expects), the total, and whether it is complete; the panel resumes an upload from here.',
    args: object({ version }),
    run: async (a, ctx) => {
      const s = settingsOf(await ctx.supervisor.status());
      return { ...releaseStatus({ sys: ownSystem(), stateDir: ctx.config.stateDir, maxBytes: s.updateMaxBytes }, a.version), updates: s.updates };
    },
  }),
  command({
    name: 'phoenix-release-apply',
    description: `Apply the uploaded release \`version\`: refused with the reason, nothing changed, unless its manifest is signed by an installed release key, every file matches it and it is newer than the running version (or signed with allow-downgrade). Then it becomes LIB/VERSION, \`current\` is switched to it and the agent restarts into it (one reconnect); when its worker is not ready within \`window\` seconds (default ${DEFAULT_WINDOW_S}), or its supervisor fails to start, the previous version comes back by itself and phoenix-agent-status and the heartbeat report update-failed.`,
    args: object({ version, window: optional(int({ min: 10, max: 3600, doc: 'seconds the new version has to become ready' })) }),
    mutating: true,
    run: async (a, ctx) => {
      const settings = await allowed(ctx);
      const keysDir = path.join(path.dirname(settings.configFile ?? '/etc/phoenix-ga/phoenix-ga.conf'), 'release-keys');
      return applyRelease({
        sys: ownSystem(), stateDir: ctx.config.stateDir, maxBytes: settings.updateMaxBytes, lib: libOf(process.argv[1]),
        installed: ctx.config.version, keysDir, handover: () => ctx.supervisor.handover(),
      }, a.version, a.window);
    },
  }),
];

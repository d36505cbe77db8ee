// phoenix-ga-ctl update --release DIR: uploads a release (resuming from what the agent already
// holds, each finished file checked by its sha256), applies it, and waits until the agent runs the
// new version and says the update is final, or says it failed and came back (docs/updates.md).

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { parseManifest } from '../supervisor/update/release';
import { AgentClient, AgentError } from './agent-client';
import { printable } from './guest-text';
import { DEFAULT_ROLLOUT, rollout } from './rollout';

export const UPDATE_USAGE = `  update --release DIR [--window SEC]       upload the release in DIR (resuming), apply it, wait
                                            until the agent runs it (exit 0) or rolled back (exit 1)
phoenix-ga-ctl rollout --release DIR --targets FILE [--canary F] [--wave F] [--max-failure-rate F]
                       [--parallel N] [--window SEC] [--json]
                                            the same for every socket listed in FILE (one a line):
                                            a canary fraction first (0.05), then waves (0.25), halted
                                            when failures/done pass the rate (0.1); exit 0 all updated
`;
const CHUNK = 48 << 10;

interface Status { sup: { ver: string }; worker: { state: string }; update?: { state: string; from: string; to: string; reason?: string } }
export interface UpdateOutcome { ok: boolean; version: string; line: string; status: Status | null }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends FILE from where the agent's copy ends (from 0 when its copy is longer); the last chunk carries the sha256. */
async function send(client: AgentClient, version: string, file: string, bytes: Buffer, have: number, log: (s: string) => void): Promise<void> {
  const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
  let from = have <= bytes.length ? have : 0;
  for (let attempt = 0; ; attempt++) {
    try {
      for (let off = from; off < bytes.length || off === from; off += CHUNK) {
        const end = Math.min(bytes.length, off + CHUNK);
        await client.call('phoenix-release-put', { version, file, offset: off, data: bytes.subarray(off, end).toString('base64'), ...(end === bytes.length ? { sha256 } : {}) }, { mutating: true, timeoutMs: 30_000 });
        if (end === bytes.length) break;
      }
      if (from > 0) log(`${file}: resumed at ${from} of ${bytes.length} bytes`);
      return;
    } catch (e) {
      // The agent's copy differs from ours (a half-written chunk from another sender): send it whole once.
      if (attempt > 0 || from === 0 || !(e instanceof AgentError) || !/has sha256/.test(e.desc)) throw e;
      from = 0;
    }
  }
}

async function status(client: AgentClient): Promise<Status | null> {
  try { return await client.call('phoenix-agent-status', undefined, { timeoutMs: 3000 }) as Status; } catch { return null; }
}

export async function updateAgent(client: AgentClient, dir: string, windowS: number | undefined, log: (s: string) => void): Promise<UpdateOutcome> {
  const manifest = fs.readFileSync(path.join(dir, 'manifest.json'));
  const m = parseManifest(manifest);
  const st = await client.call('phoenix-release-status', { version: m.version }, { timeoutMs: 10_000 }) as { files: Array<{ file: string; size: number }> };
  const have = new Map(st.files.map((f) => [f.file, f.size]));
  for (const file of ['manifest.json', 'manifest.sig', ...m.files.map((f) => f.name)]) {
    await send(client, m.version, file, fs.readFileSync(path.join(dir, file)), have.get(file) ?? 0, log);
  }
  const before = await status(client);
  const r = await client.call('phoenix-release-apply', { version: m.version, ...(windowS ? { window: windowS } : {}) }, { mutating: true, timeoutMs: 60_000 }) as { previous: string; window_s: number };
  log(`applying ${m.version} over ${r.previous}; it has ${r.window_s} s to prove itself`);
  // The window, the starts the launcher allows and the init's restarts, with room.
  const deadline = Date.now() + (r.window_s + 60) * 1000;
  let last: Status | null = before;
  while (Date.now() < deadline) {
    await sleep(1000);
    const s = await status(client);
    if (!s) continue;
    last = s;
    if (s.update?.to !== m.version) continue;
    if (s.update.state === 'updated' && s.sup.ver === m.version) return { ok: true, version: m.version, line: `${m.version} runs; the update from ${s.update.from} is final`, status: s };
    if (s.update.state === 'update-failed') return { ok: false, version: m.version, line: `update to ${m.version} failed, ${s.sup.ver} runs again: ${printable(s.update.reason ?? 'no reason given')}`, status: s };
  }
  return { ok: false, version: m.version, line: `no result within ${r.window_s + 60} s; the agent runs ${last?.sup.ver ?? 'nothing that answers'}`, status: last };
}

/** `rollout`: every target of FILE through updateAgent, in the waves rollout.ts plans. */
export async function rolloutCommand(release: string | undefined, windowS: string | undefined, flag: (n: string) => string | undefined, json: boolean): Promise<number> {
  const targetsFile = flag('targets');
  if (!release || !targetsFile) throw new Error('rollout needs --release DIR and --targets FILE');
  const num = (n: string, dflt: number, max: number) => {
    const v = flag(n);
    if (v === undefined) return dflt;
    if (!(Number(v) > 0 && Number(v) <= max)) throw new Error(`--${n}: expected a number above 0 and at most ${max}, got '${printable(v)}'`);
    return Number(v);
  };
  const o = { canary: num('canary', DEFAULT_ROLLOUT.canary, 1), wave: num('wave', DEFAULT_ROLLOUT.wave, 1), maxFailureRate: num('max-failure-rate', DEFAULT_ROLLOUT.maxFailureRate, 1), parallel: Math.floor(num('parallel', DEFAULT_ROLLOUT.parallel, 256)) };
  const targets = fs.readFileSync(targetsFile, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const log = (l: string) => { if (!json) process.stderr.write(`${printable(l)}\n`); };
  const r = await rollout(targets, o, async (target) => {
    const client = new AgentClient({ path: target });
    try {
      const u = await updateAgent(client, release, windowS ? Number(windowS) : undefined, () => {});
      return { target, ok: u.ok, line: u.line };
    } finally {
      client.close();
    }
  }, log);
  const done = r.waves.flat();
  const failed = done.filter((x) => !x.ok).length;
  const summary = `${done.length - failed} of ${targets.length} updated, ${failed} failed${r.halted ? `; ${r.halted}: ${r.untouched.length} untouched` : ''}`;
  process.stdout.write((json ? JSON.stringify({ ...r, summary }) : summary) + '\n');
  return failed || r.halted ? 1 : 0;
}

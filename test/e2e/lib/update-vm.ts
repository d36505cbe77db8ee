// Updates over the channel in a QEMU VM: releases of any version signed with a test key, the
// panel's client shared by several tasks on the one connection a virtio-serial port allows, a
// chunked upload that stops where the test wants to cut the power, and what a booted agent says.

import { execFileSync, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { AgentClient, AgentError, CallOptions } from '../../../panel/agent-client';
import { parseManifest } from '../../../supervisor/update/release';
import { ROOT, waitFor } from '../../helpers/agent';
import { buildVersion, nodeRuntime, scratchDir } from '../../helpers/versions';
import type { Vm } from './vm';

/**
 * The panel's client, one call at a time: QEMU's chardev takes one host connection, so the
 * panel's traffic and its update take turns on it, as a panel's own queue would.
 */
export class SharedClient extends AgentClient {
  #turn: Promise<unknown> = Promise.resolve();

  call(cmd: string, args?: Record<string, unknown>, opts?: CallOptions): Promise<unknown> {
    const mine = this.#turn.catch(() => undefined).then(() => super.call(cmd, args, opts));
    this.#turn = mine;
    return mine;
  }
}

const releaseTool = (...args: string[]): string =>
  execFileSync(process.execPath, [path.join(ROOT, 'build/release.mjs'), ...args], { encoding: 'utf8' });

export interface ReleaseKey { file: string; id: string; pub: string }

export function makeReleaseKey(): ReleaseKey {
  const file = path.join(scratchDir('pga-e2e-keys-'), 'release.key');
  const id = /^key (\w{16}):/.exec(releaseTool('keygen', '--out', file))![1];
  return { file, id, pub: `${file}.pub` };
}

/** A package tree of VERSION with Node 16 that trusts KEY, for `phoenix-ga install --root`. */
export function installable(version: string, key: ReleaseKey): string {
  const dir = buildVersion(version, nodeRuntime('16.20.2'));
  fs.mkdirSync(path.join(dir, 'init/release-keys'));
  fs.copyFileSync(key.pub, path.join(dir, 'init/release-keys', `${key.id}.pub`));
  return dir;
}

/** A signed release of VERSION without a runtime (the installed one's is used), carrying NEXT as the next key. */
export function signedRelease(version: string, key: ReleaseKey, next?: ReleaseKey): string {
  const build = scratchDir(`pga-b${version}-`);
  execFileSync(process.execPath, [path.join(ROOT, 'build/build.mjs'), '--no-typecheck', '--out', build, '--version', version], { stdio: 'ignore' });
  const out = scratchDir(`pga-rel-${version}-`);
  releaseTool('--key', key.file, '--from', build, '--out', out, ...(next ? ['--next-key', next.pub] : []));
  return out;
}

export const releaseVersion = (dir: string): string => parseManifest(fs.readFileSync(path.join(dir, 'manifest.json'))).version;

const CHUNK = 48 << 10;

/**
 * Uploads the release in DIR with phoenix-release-put, resuming from what phoenix-release-status
 * says the agent holds; after each chunk STOP (file, bytes of it sent, whether it was its last)
 * may end the upload there. Returns the bytes sent and the files resumed (name: offset).
 */
export async function uploadRelease(c: AgentClient, dir: string, stop?: (file: string, end: number, last: boolean) => boolean): Promise<{ sent: number; resumed: Record<string, number>; stopped: boolean }> {
  const m = parseManifest(fs.readFileSync(path.join(dir, 'manifest.json')));
  const st = await c.call('phoenix-release-status', { version: m.version }, { timeoutMs: 30_000 }) as { files: Array<{ file: string; size: number }> };
  const have = new Map(st.files.map((f) => [f.file, f.size]));
  const resumed: Record<string, number> = {};
  let sent = 0;
  for (const file of ['manifest.json', 'manifest.sig', ...m.files.map((f) => f.name)]) {
    const bytes = fs.readFileSync(path.join(dir, file));
    const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
    const from = have.get(file) ?? 0;
    // From where the agent's copy ends; a whole copy gets an empty last chunk that checks its sha256.
    if (from > 0 && from <= bytes.length) resumed[file] = from;
    let restarted = false;
    for (let off = from < bytes.length ? from : 0; ; off += CHUNK) {
      const end = Math.min(bytes.length, off + CHUNK);
      const last = end === bytes.length;
      try {
        await c.call('phoenix-release-put', { version: m.version, file, offset: off, data: bytes.subarray(off, end).toString('base64'), ...(last ? { sha256 } : {}) }, { mutating: true, timeoutMs: 60_000 });
      } catch (e) {
        // As the panel does (ctl-update.ts): a copy that differs from ours is sent again whole, once.
        if (!(e instanceof AgentError && /has sha256/.test(e.desc)) || from === 0 || restarted) throw e;
        restarted = true;
        off = -CHUNK;
        continue;
      }
      sent += end - off;
      if (stop?.(file, end, last)) return { sent, resumed, stopped: true };
      if (last) break;
    }
  }
  return { sent, resumed, stopped: false };
}

export interface AgentStatus {
  sup: { ver: string };
  worker: { state: string };
  update?: { state: string; from: string; to: string; why?: string; reason?: string };
}

/** A client whose ping was answered: the agent serves on the port (a TCG boot and Node's start are slow). */
export async function agentUp(vm: Vm, timeoutMs = 240_000): Promise<SharedClient> {
  return waitFor('the agent answers on the virtio-serial port', async () => {
    const c = new SharedClient({ path: vm.agentSock });
    try { await c.call('guest-ping', undefined, { timeoutMs: 5000 }); return c; } catch { c.close(); return null; }
  }, timeoutMs, 250);
}

export async function statusOf(c: AgentClient): Promise<AgentStatus> {
  return await c.call('phoenix-agent-status', undefined, { timeoutMs: 15_000 }) as AgentStatus;
}

/** A valid ssh-ed25519 authorized_keys line whose comment is COMMENT: one line a request adds. */
export function sshKeyLine(comment: string): string {
  const raw = crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]).toString('base64')} ${comment}`;
}

/** `phoenix-ga install --root` of the package tree PKG into TREE; the channel stays the virtio port. */
export function installInto(pkg: string, tree: string): void {
  const r = spawnSync(path.join(pkg, 'phoenix-ga'), ['install', '--root', tree], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`install: exit ${r.status}: ${r.stdout}${r.stderr}`);
}

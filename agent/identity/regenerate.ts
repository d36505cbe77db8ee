// What a clone must not share with its template, made new in the os-root tree: /etc/machine-id
// (a fresh random id written atomically; systemd-machine-id-setup keeps an id that is already
// there) and the SSH host keys (the old ones removed, `ssh-keygen -A` makes the default set, then
// a running sshd is told by SIGHUP to load them). Run only after a detected change, never at an
// ordinary start.

import type * as cryptoModule from 'crypto';
import fs = require('fs');
import type { Host } from '../os/host';
import type { System } from '../os/system';
import { machineId } from './machine-identity';

export interface Regenerated {
  machine_id: 'written' | 'none-set' | 'failed';
  ssh_host_keys: string[];
  sshd: 'reloaded' | 'not-running';
  /** What failed, each part on its own: one part's failure does not keep the other from being done. */
  errors: string[];
}

const HOST_KEY = /^ssh_host_[a-z0-9]+_key(\.pub)?$/;
const KEYGEN_TIMEOUT_MS = 120_000;

/** 32 hex digits, random, marked as a version 4 UUID as systemd makes them. */
export function freshMachineId(): string {
  const b = (require('crypto') as typeof cryptoModule).randomBytes(16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  return b.toString('hex');
}

/** A regular file at P (not a link to one): dbus's copy of the machine id is often a link to /etc's. */
function isRegularFile(sys: System, p: string): boolean {
  let fd: number;
  try { fd = sys.file.open(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK); } catch { return false; }
  try { return sys.file.stat(fd).isFile(); } finally { sys.file.close(fd); }
}

function newMachineId(sys: System): Regenerated['machine_id'] {
  // None (or "uninitialized"): the image leaves it to the first boot; writing one would undo that.
  if (machineId(sys.readText('/etc/machine-id')) === null) return 'none-set';
  const id = `${freshMachineId()}\n`;
  sys.writeText('/etc/machine-id', id, { mode: 0o444 });
  if (isRegularFile(sys, '/var/lib/dbus/machine-id')) sys.writeText('/var/lib/dbus/machine-id', id, { mode: 0o444 });
  return 'written';
}

/** TREE is the os-root tree as a read door (the same root as SYS). */
async function newHostKeys(sys: System, tree: Host): Promise<string[]> {
  const old = tree.list('/etc/ssh').filter((n) => HOST_KEY.test(n));
  // No host keys: no SSH server here to give new ones to.
  if (!old.length) return [];
  const keygen = sys.which('ssh-keygen');
  if (!keygen) throw new Error('ssh-keygen is not installed (openssh-client): the SSH host keys of the template are kept');
  for (const n of old) sys.remove(`/etc/ssh/${n}`);
  const r = await sys.run(keygen, sys.root === '/' ? ['-A'] : ['-A', '-f', sys.root], { timeoutMs: KEYGEN_TIMEOUT_MS });
  if (r.code !== 0) throw new Error(`ssh-keygen -A failed (${r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`}): ${r.stderr.trim().slice(0, 200)}`);
  return tree.list('/etc/ssh').filter((n) => HOST_KEY.test(n) && n.endsWith('.pub')).sort();
}

/** The listening sshd of the tree's pid file, if it runs: SIGHUP makes it re-execute with the new keys. */
function reloadSshd(sys: System, live: Host): Regenerated['sshd'] {
  const pid = Number((sys.readText('/run/sshd.pid') ?? '').trim());
  if (!Number.isInteger(pid) || pid <= 1 || live.read(`/proc/${pid}/comm`)?.trim() !== 'sshd') return 'not-running';
  return sys.signal(pid, 'SIGHUP') ? 'reloaded' : 'not-running';
}

export async function regenerateIdentity(sys: System, tree: Host, live: Host): Promise<Regenerated> {
  const errors: string[] = [];
  let machine_id: Regenerated['machine_id'] = 'failed';
  try { machine_id = newMachineId(sys); } catch (e) { errors.push(`machine-id: ${(e as Error).message}`); }
  let ssh_host_keys: string[] = [];
  try { ssh_host_keys = await newHostKeys(sys, tree); } catch (e) { errors.push(`SSH host keys: ${(e as Error).message}`); }
  return { machine_id, ssh_host_keys, sshd: ssh_host_keys.length ? reloadSshd(sys, live) : 'not-running', errors };
}

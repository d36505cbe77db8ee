// STATE_DIR/identity.json: the machine this agent last ran on (its identity sources' values),
// a random instance id that lasts until the machine changes, and the state of the regeneration a
// change asks for. Written as .new, fsynced, renamed, and the directory fsynced: a record lost in
// a power cut would make the next start take the clone for a new clone again.

import type * as cryptoModule from 'crypto';
import fs = require('fs');
import path = require('path');
import { ensurePrivateDir, readJsonFile, writeFileAtomic } from '../../supervisor/atomic-file';
import type { SourceName, Sources } from './machine-identity';

export type Regeneration = 'pending' | 'done' | 'failed' | 'off';

export interface IdentityRecord {
  format: 1;
  /** 16 hex digits, new when the machine changes; the same across restarts and reboots. */
  instance: string;
  /** When this instance was first recorded. */
  since: string;
  sources: Sources;
  /** The last change found: when, and which sources differed. */
  last_change: { at: string; sources: SourceName[] } | null;
  /** What became of the machine-id and SSH host key regeneration of the last change (null: none asked). */
  regeneration: Regeneration | null;
  regenerated?: unknown;
  regeneration_error?: string;
}

export function identityFile(stateDir: string): string {
  return path.join(stateDir, 'identity.json');
}

export function loadRecord(stateDir: string): IdentityRecord | null {
  const r = readJsonFile<IdentityRecord>(identityFile(stateDir));
  return r && r.format === 1 && typeof r.instance === 'string' && typeof r.sources === 'object' && r.sources !== null ? r : null;
}

export function saveRecord(stateDir: string, r: IdentityRecord): void {
  ensurePrivateDir(stateDir);
  writeFileAtomic(identityFile(stateDir), JSON.stringify(r, null, 1) + '\n');
  const fd = fs.openSync(stateDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

export function newInstance(sources: Sources, at: string, change: IdentityRecord['last_change'], regeneration: Regeneration | null): IdentityRecord {
  const crypto = require('crypto') as typeof cryptoModule;
  return { format: 1, instance: crypto.randomBytes(8).toString('hex'), since: at, sources, last_change: change, regeneration };
}

// The record of network transactions, STATE_DIR/network/transactions.json: the one pending
// transaction (what the interface was before, what it is to become, its deadline), the last
// finished ones, and what the panel last set per interface (confirmed). Written whole as
// .new, fsync, rename, fsync of the directory before anything is changed on the server, so a
// worker or supervisor killed at any moment finds it on restart. Readable with cat.

import fs = require('fs');
import path = require('path');
import { readPrivateFile } from '../../supervisor/atomic-file';
import type { Deadline } from './deadline';
import type { Addr, ConvergeReport, InterfaceState } from './interface-state';
import type { PersistChange } from './persist';
import type { RendererName } from './persist/types';
import type { RoutesAsked } from './transaction-plan';

export type TxnState = 'applying' | 'pending' | 'confirming' | 'reverting' | 'confirmed' | 'reverted' | 'failed';

/** A configuration file as it was; ABSENT: it did not exist (the renderer may create it). */
export interface FileCopy { path: string; text: string | null; mode: number; absent?: boolean }

export interface Txn {
  id: string;
  interface: string;
  state: TxnState;
  created: string;
  confirmWithin: number;
  deadline: Deadline;
  before: InterfaceState;
  after: InterfaceState;
  persist: boolean;
  check: { gateway?: boolean; target?: string } | null;
  /** The routes the apply named and what they replace (absent in records of older versions: none). */
  routesAsked?: RoutesAsked;
  applied?: ConvergeReport;
  /** The configuration files as they were just before confirmation wrote them (state confirming only). */
  files?: FileCopy[];
  /** Whose files those are: a revert restores them without detecting again (or loading the rare commands' code). */
  filesRenderer?: RendererName;
  confirmed?: { at: string; persisted: PersistChange[] };
  reverted?: { at: string; reason: string; live: ConvergeReport | null; files: string[] };
}

export interface PanelSet { id: string; at: string; addresses: Addr[] }

export interface StoreData { pending: Txn | null; history: Txn[]; confirmed: Record<string, PanelSet> }

/** Finished transactions kept for phoenix-network-status. */
const HISTORY = 20;

export interface TransactionStore {
  readonly data: StoreData;
  /** Writes DATA durably; throws (nothing changed on disk) when it cannot. */
  save(): void;
  /** Moves the pending transaction to the history (without its file copies) and saves. */
  finish(t: Txn): void;
}

/** The most a record of 20 transactions with their file copies can hold; a bigger file is not ours. */
const MAX_FILE_BYTES = 16 << 20;

/**
 * A record that cannot be read (damaged on disk, not a regular file, too big) is moved aside as
 * transactions.json.damaged-TIME and the store starts empty, with WARN saying so: a worker that
 * refused to start over it would never serve again.
 */
export function openTransactionStore(stateDir: string, warn: (msg: string) => void = () => {}): TransactionStore {
  const dir = path.join(stateDir, 'network');
  const file = path.join(dir, 'transactions.json');
  let data: StoreData = { pending: null, history: [], confirmed: {} };
  try {
    // Not a FIFO planted in its place (it would hang the worker's start), nor through a symlink.
    const read = JSON.parse(readPrivateFile(file, MAX_FILE_BYTES)) as Partial<StoreData>;
    if (!read || typeof read !== 'object' || !Array.isArray(read.history ?? []) || typeof (read.confirmed ?? {}) !== 'object' || read.confirmed === null) throw new Error('not a record of transactions');
    data = { ...data, ...read };
  } catch (e) {
    // Absent on first use; a file that does not parse was not written by us whole (we rename).
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      const aside = `${file}.damaged-${Date.now()}`;
      let moved = 'left in place';
      try { fs.renameSync(file, aside); moved = `moved to ${aside}`; } catch (r) { moved += ` (${(r as Error).message})`; }
      warn(`${file} cannot be read (${(e as Error).message}): ${moved}; a change pending in it is neither confirmed nor reverted, and the earlier ones are not listed`);
    }
  }
  const store: TransactionStore = {
    data,
    save() {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const tmp = `${file}.new`;
      const fd = fs.openSync(tmp, 'w', 0o600);
      try {
        fs.writeSync(fd, JSON.stringify(data, null, 1) + '\n');
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, file);
      const dfd = fs.openSync(dir, 'r');
      try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
    },
    finish(t) {
      const done = { ...t };
      delete done.files;
      data.pending = null;
      data.history = [done, ...data.history.filter((h) => h.id !== t.id)].slice(0, HISTORY);
      store.save();
    },
  };
  return store;
}

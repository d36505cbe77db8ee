// Messages between the supervisor and its worker over Node's IPC channel (fd 3). The worker
// imports these types only; the supervisor never imports anything from agent/.

/** What the supervisor hands the worker at spawn (environment variable PHOENIX_GA_WORKER, JSON). */
export interface WorkerConfig {
  generation: number;
  /** Kind of channel: unix connections arrive as IPC handles, a serial port is fd 4. */
  channel: { kind: 'unix' | 'serial' | 'none'; path: string };
  maxRequestBytes: number;
  allowRpcs: string[] | null;
  blockRpcs: string[];
  testCommands: boolean;
  version: string;
  /** The supervisor's run directory (statistics history, journal). */
  runDir: string;
  statsIntervalMs: number;
  statsHistory: number;
  /** Persistent state (the journal), kept across reboots. */
  stateDir: string;
  freezeTimeoutMs: number;
  osRoot: string;
  /** Clock healing (config keys clock-heal, clock-heal-max-step). */
  clockHeal: boolean;
  clockHealMaxStepMs: number;
  /** Order of guest-network-get-interfaces (config key interfaces-order). */
  interfacesOrder: 'as-is' | 'real-first' | 'real-only';
  /** regenerate-identity-on-clone: a new machine-id and SSH host keys when this machine is found to be a clone. */
  regenerateIdentity: boolean;
  /** Tests only: "STEP:COMMAND", the worker kills itself with SIGKILL right after that journal step. */
  testCrashAt: string | null;
  /**
   * Serial only: replies owed by the previous generation that the supervisor could not write at
   * once (the host was not reading); written before anything is read (see reply-ledger.ts).
   */
  owedReplies?: string;
  /** Serial only: fd 5 is the reply ledger's file. */
  replyLedger?: boolean;
}

export type ToWorker =
  | { t: 'ping'; seq: number }
  | { t: 'conn'; cid: number }
  | { t: 'status'; rid?: number; view: unknown }
  /** The answer to 'freeze?': null once the record is durable (the worker may freeze), else why not. */
  | { t: 'freeze-ack'; rid: number; error: string | null };

/** The last clock correction the worker made or refused (agent/clock/healer.ts). */
export interface ClockFix {
  result: 'stepped' | 'refused' | 'failed';
  /** How far the wall clock was (or would have been) stepped, ms; positive: forward. */
  step_ms: number;
  /** Wall-clock time after the correction (ISO 8601). */
  at: string;
  /** When, on the boot's monotonic clock (ms). */
  at_mono: number;
  why: string;
}

/** Clock healing as the worker sees it, sent on every change. */
export interface ClockReport {
  /** 'no-rtc': on, but there is no RTC to compare with. */
  heal: 'on' | 'off' | 'no-rtc';
  rtc_local: boolean;
  /** Wall clock minus RTC, measured at the RTC's second edge; null until measured. */
  rtc_offset_ms: number | null;
  last: ClockFix | null;
}

/** The heartbeat's short form of the report: no texts; at_ms on the boot's monotonic clock, as sup.start_ms. */
export interface ClockBeat {
  heal: ClockReport['heal'];
  rtc_offset_ms: number | null;
  last: null | { result: ClockFix['result']; step_ms: number; at_ms: number };
}

/** Why the journal cannot take records (the worker refuses commands whose idempotency key needs it). */
export type JournalState = 'read-only' | 'no-space' | 'error';

export type FromWorker =
  | { t: 'ready' }
  | { t: 'pong'; seq: number; busy: string | null }
  | { t: 'status?'; rid: number }
  | { t: 'host'; connected: boolean }
  | { t: 'conn-ok'; cid: number }
  | { t: 'frozen'; mounts: string[]; deadlineMs: number | null }
  /** Before any freeze: record these mounts as frozen, durably, and answer with 'freeze-ack'. */
  | { t: 'freeze?'; rid: number; mounts: string[]; deadlineMs: number | null }
  /** The journal's state, at start and on every change (null: usable). */
  | { t: 'journal'; state: JournalState | null; reason: string | null }
  /** Clock healing's state, at start and on every change. */
  | { t: 'clock'; report: ClockReport; beat: ClockBeat }
  /** Sent at the worker's start: the identity sources that changed since the last start (none: the same machine). */
  | { t: 'identity'; changed: string[] }
  /**
   * Re-read the config file (phoenix-set-config wrote it); answered with 'status', whose view has
   * `error` (why the file was not taken) and `settings`. A reload on SIGHUP sends 'status' without a rid.
   */
  | { t: 'reload'; rid: number }
  /** A new version was switched to (phoenix-release-apply): stop, and let the init start it from `current`. */
  | { t: 'handover' };

/** Exit codes of the worker that mean something to the supervisor. */
export const WORKER_EXIT = {
  /** The supervisor went away (IPC closed). */
  orphaned: 0,
  /** The configuration handed over was unusable. */
  badConfig: 78,
} as const;

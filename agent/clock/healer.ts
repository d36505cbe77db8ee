// Clock healing: at each check (the supervisor's watchdog ping) the wall clock is compared with
// the RTC and the monotonic clock (judge.ts); time the guest did not live (a paused, migrated or
// restored VM) is given back by stepping the wall clock, bounded by clock-heal-max-step, logged
// and reported. The RTC is the reference and is never written. The baseline and the last
// correction are kept in RUN_DIR/clock.json, so a restarted worker goes on from them.

import path = require('path');
import { readPrivateFile, writeFileAtomic } from '../../supervisor/atomic-file';
import type { ClockReport, ClockFix } from '../../supervisor/ipc';
import type { Host } from '../os/host';
import type { System } from '../os/system';
import { Baseline, judge, Reading } from './judge';
import { Clocks, coarseReading, exactReading, openRtc, Rtc } from './rtc';
import { stepClock } from './step';

export interface HealSettings { clockHeal: boolean; clockHealMaxStepMs: number }

export interface ClockHealerDeps {
  host: Host;
  sys: System;
  runDir: string;
  settings: () => HealSettings;
  clocks: Clocks;
  sleep: (ms: number) => Promise<void>;
  report: (r: ClockReport) => void;
  log: (level: 'info' | 'warn', msg: string) => void;
  /** The local zone's offset from UTC now, seconds (for an RTC in local time); default: this process's zone. */
  zoneOffsetS?: () => number;
}

export interface ClockHealer {
  /** One check; concurrent calls while one runs (an exact reading takes up to 3.5 s) are dropped. */
  check(): Promise<void>;
  report(): ClockReport;
}

interface Saved { boot: string; base: Baseline; last: ClockFix | null }

export function createClockHealer(d: ClockHealerDeps): ClockHealer {
  const rtc: Rtc = openRtc(d.host, d.zoneOffsetS);
  const file = path.join(d.runDir, 'clock.json');
  const boot = (d.host.read('/proc/sys/kernel/random/boot_id') ?? '').trim();
  const saved = readSaved(file, boot);
  let base: Baseline | null = saved?.base ?? null;
  let last: ClockFix | null = saved?.last ?? null;
  let running = false;
  let lastState: string | null = null;
  /** The last reading found no RTC to read (a container, a machine without one). */
  let noRtc = false;

  const report = (): ClockReport => ({
    heal: !d.settings().clockHeal ? 'off' : noRtc ? 'no-rtc' : 'on',
    rtc_local: rtc.local,
    rtc_offset_ms: base?.offsetMs ?? null,
    last,
  });
  const save = (): void => {
    try { writeFileAtomic(file, JSON.stringify({ boot, base, last }) + '\n', { fsync: false }); } catch (e) { d.log('warn', `clock: cannot keep the baseline in ${file}: ${(e as Error).message}`); }
  };
  const send = (): void => {
    const r = report();
    d.report(r);
    lastState = JSON.stringify(r);
  };
  /** The exact offset now, as the new baseline; null (and no baseline) when the RTC cannot be read. */
  const rebase = async (): Promise<void> => {
    const r = await exactReading(rtc, d.clocks, d.sleep);
    noRtc = r === null;
    base = r && { offsetMs: r.offsetMs, wallMs: r.wallMs, monoMs: r.monoMs };
    save();
  };
  const fix = async (r: Reading, stepMs: number, refused: boolean): Promise<void> => {
    const why = `the wall clock ${stepMs > 0 ? 'lost' : 'gained'} ${(Math.abs(stepMs) / 1000).toFixed(3)} s against the RTC while the monotonic clock ran with it (a paused, migrated or restored VM)`;
    const at = new Date().toISOString();
    if (refused) {
      last = { result: 'refused', step_ms: stepMs, at, at_mono: r.monoMs, why: `${why}; more than clock-heal-max-step (${d.settings().clockHealMaxStepMs / 1000} s): not corrected` };
      d.log('warn', `clock: ${last.why}`);
      // The new offset is the baseline from now on: one report, not one per check.
      await rebase();
      return;
    }
    const error = await stepClock(d.sys, stepMs, d.clocks.wallMs);
    last = { result: error ? 'failed' : 'stepped', step_ms: stepMs, at: new Date().toISOString(), at_mono: d.clocks.monoMs(), why: error ? `${why}; stepping it failed: ${error}` : why };
    d.log(error ? 'warn' : 'info', `clock: ${error ? '' : `stepped by ${(stepMs / 1000).toFixed(3)} s: `}${last.why}`);
    // Our own step moved the wall clock away from the monotonic one: the next check starts here.
    if (error) await rebase();
    else if (base) { base = { offsetMs: base.offsetMs, wallMs: d.clocks.wallMs(), monoMs: d.clocks.monoMs() }; save(); }
  };
  const checkOnce = async (): Promise<void> => {
    if (!d.settings().clockHeal) { base = null; return; }
    if (!base) { await rebase(); return; }
    const coarse = coarseReading(rtc, d.clocks);
    noRtc = coarse === null;
    if (!coarse) { base = null; return; }
    const policy = { maxStepMs: d.settings().clockHealMaxStepMs, rtcLocal: rtc.local };
    let v = judge(base, coarse, policy);
    if (v.kind === 'steady') { base = { ...base, wallMs: coarse.wallMs, monoMs: coarse.monoMs }; return; }
    if (v.kind === 'rebase') {
      if (v.why !== 'drift') d.log('info', `clock: the wall clock moved ${(v.byMs / 1000).toFixed(3)} s (${v.why === 'set-by-guest' ? 'set in the guest' : 'the local-time RTC was shifted'}): new baseline`);
      await rebase();
      return;
    }
    // A jump: measured exactly before anything is stepped.
    const exact = await exactReading(rtc, d.clocks, d.sleep);
    if (!exact) { base = null; return; }
    v = judge(base, exact, policy);
    if (v.kind === 'jump' || v.kind === 'too-big') await fix(exact, v.stepMs, v.kind === 'too-big');
    else await rebase();
  };
  return {
    async check() {
      if (running) return;
      running = true;
      try { await checkOnce(); } catch (e) { d.log('warn', `clock: check failed: ${(e as Error).message}`); } finally {
        running = false;
        if (JSON.stringify(report()) !== lastState) send();
      }
    },
    report,
  };
}

function readSaved(file: string, boot: string): Saved | null {
  try {
    const s = JSON.parse(readPrivateFile(file)) as Saved;
    // A baseline of another boot says nothing about this one's clocks (the monotonic clock restarted).
    return s.boot === boot && boot !== '' ? s : null;
  } catch { return null; }
}

// The healer over a simulated VM: the RTC is a real sysfs-shaped file in a temporary root (read by
// the real host door), the guest's wall and monotonic clocks are simulated, and so is `date`:
// stepping this machine's clock is what a test must never do (other tests run here), so the
// System's `which`/`run` record the step and apply it to the simulated wall clock instead. The
// step itself is tested for real in the VM (test/e2e/clock.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { createClockHealer, HealSettings } from '../../../agent/clock/healer';
import { RTC_FILE } from '../../../agent/clock/rtc';
import { createHost } from '../../../agent/os/host';
import type { System } from '../../../agent/os/system';
import type { ClockReport } from '../../../supervisor/ipc';
import { tempDir } from '../../helpers/agent';

function simulatedVm(o: { rtcLocalZoneS?: number; dateFails?: boolean; busybox?: boolean } = {}) {
  const root = tempDir('pga-clock-');
  const runDir = path.join(root, 'run');
  fs.mkdirSync(runDir);
  fs.mkdirSync(path.join(root, path.dirname(RTC_FILE)), { recursive: true });
  fs.mkdirSync(path.join(root, 'proc/sys/kernel/random'), { recursive: true });
  fs.writeFileSync(path.join(root, 'proc/sys/kernel/random/boot_id'), 'b00710ad-0000-4000-8000-000000000001\n');
  if (o.rtcLocalZoneS !== undefined) { fs.mkdirSync(path.join(root, 'etc')); fs.writeFileSync(path.join(root, 'etc/adjtime'), '0.0 0 0\n0\nLOCAL\n'); }
  // World time (the host's), the guest's paused total and its own clock setting.
  const s = { world: 1_796_000_000_300, paused: 0, wallAdj: -700, steps: [] as string[], reports: [] as ClockReport[] };
  const writeRtc = () => fs.writeFileSync(path.join(root, RTC_FILE), `${Math.floor(s.world / 1000) + (o.rtcLocalZoneS ?? 0)}\n`);
  writeRtc();
  const advance = (ms: number) => { s.world += ms; writeRtc(); };
  const sys = {
    which: (tool: string) => (tool === 'date' ? '/simulated/date' : null),
    async run(_tool: string, args: string[]) {
      s.steps.push(args.join(' '));
      const m = /^([+-]\d+\.\d{3}) seconds$/.exec(args[2]);
      const at = /^@(\d+)$/.exec(args[2]);
      // BusyBox's date: absolute times only, to the second.
      if (o.busybox && m) return { code: 1, signal: null, stdout: '', stderr: `date: invalid date '${args[2]}'`, timedOut: false };
      if (o.busybox && at) { s.wallAdj = Number(at[1]) * 1000 - (s.world - s.paused); return { code: 0, signal: null, stdout: '', stderr: '', timedOut: false }; }
      if (o.dateFails || !m) return { code: 1, signal: null, stdout: '', stderr: 'date: cannot set date: Operation not permitted', timedOut: false };
      s.wallAdj += Math.round(Number(m[1]) * 1000);
      return { code: 0, signal: null, stdout: '', stderr: '', timedOut: false };
    },
  } as unknown as System;
  const settings: HealSettings = { clockHeal: true, clockHealMaxStepMs: 86_400_000 };
  const logs: string[] = [];
  const make = () => createClockHealer({
    host: createHost(root), sys, runDir, settings: () => settings,
    clocks: { wallMs: () => s.world - s.paused + s.wallAdj, monoMs: () => s.world - s.paused - 1_796_000_000_000 + 5_000 },
    sleep: async (ms) => advance(ms), report: (r) => s.reports.push(r), log: (_l, m) => logs.push(m),
    ...(o.rtcLocalZoneS === undefined ? {} : { zoneOffsetS: () => o.rtcLocalZoneS! }),
  });
  return { s, settings, logs, make, advance, pause: (ms: number) => { s.paused += ms; advance(ms); }, runDir, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}

/** Guest wall clock minus world time, ms. */
const error = (v: ReturnType<typeof simulatedVm>) => v.s.wallAdj - v.s.paused;

test('a 60 s pause: stepped back at the next check, to within the RTC edge poll; reported once', async () => {
  const v = simulatedVm();
  try {
    const h = v.make();
    await h.check();
    const baseline = h.report().rtc_offset_ms!;
    assert.ok(Math.abs(baseline - -700) <= 10, `baseline ${baseline}`);
    for (let i = 0; i < 3; i++) { v.advance(10_000); await h.check(); }
    assert.is(v.s.steps.length, 0, 'nothing stepped while steady');
    v.pause(60_000);
    v.advance(3_000);
    await h.check();
    assert.equal(v.s.steps.length, 1);
    assert.match(v.s.steps[0], /^-u -s \+(59|60)\.\d{3} seconds$/);
    assert.ok(Math.abs(error(v) - -700) <= 10, `the guest is ${error(v)} ms off the world, was -700 before the pause`);
    const last = h.report().last!;
    assert.is(last.result, 'stepped');
    assert.ok(Math.abs(last.step_ms - 60_000) <= 10, String(last.step_ms));
    assert.match(last.why, /paused, migrated or restored/);
    // Our own step is not taken for the guest's: later checks are quiet.
    for (let i = 0; i < 3; i++) { v.advance(10_000); await h.check(); }
    assert.is(v.s.steps.length, 1);
    assert.not.ok(v.logs.some((l) => /set in the guest/.test(l)), v.logs.join('\n'));
    assert.is(v.s.reports.filter((r) => r.last).length, 1, 'one report of the correction');
  } finally { v.cleanup(); }
});

test('past clock-heal-max-step: refused, reported, not stepped; and off means no reading at all', async () => {
  const v = simulatedVm();
  try {
    v.settings.clockHealMaxStepMs = 30_000;
    const h = v.make();
    await h.check();
    v.pause(60_000);
    await h.check();
    assert.is(v.s.steps.length, 0);
    assert.is(h.report().last!.result, 'refused');
    assert.match(h.report().last!.why, /clock-heal-max-step \(30 s\)/);
    v.advance(10_000);
    await h.check();
    assert.is(h.report().last!.result, 'refused');
    v.settings.clockHeal = false;
    await h.check();
    assert.is(h.report().heal, 'off');
    v.pause(60_000);
    await h.check();
    assert.is(v.s.steps.length, 0);
  } finally { v.cleanup(); }
});

test('the guest setting its own clock is not undone; a failing date is reported as failed', async () => {
  const v = simulatedVm({ dateFails: true });
  try {
    const h = v.make();
    await h.check();
    v.s.wallAdj += 300_000;
    v.advance(10_000);
    await h.check();
    assert.is(v.s.steps.length, 0);
    assert.is(h.report().last, null);
    v.pause(60_000);
    await h.check();
    assert.is(h.report().last!.result, 'failed');
    assert.match(h.report().last!.why, /Operation not permitted/);
  } finally { v.cleanup(); }
});

test('BusyBox date: the absolute whole second instead, so within half a second', async () => {
  const v = simulatedVm({ busybox: true });
  try {
    const h = v.make();
    await h.check();
    v.pause(60_000);
    await h.check();
    assert.equal(v.s.steps.map((x) => x.replace(/\d+/g, 'N')), ['-u -s +N.N seconds', '-u -s @N']);
    assert.is(h.report().last!.result, 'stepped');
    assert.ok(Math.abs(error(v) - -700) <= 500, `the guest is ${error(v)} ms off the world, was -700 before the pause`);
  } finally { v.cleanup(); }
});

test('a restarted worker goes on from the kept baseline: a pause while it was down is healed', async () => {
  const v = simulatedVm();
  try {
    await v.make().check();
    v.pause(45_000);
    const h = v.make();
    await h.check();
    assert.is(v.s.steps.length, 1);
    assert.ok(Math.abs(error(v) - -700) <= 10, String(error(v)));
    assert.ok(fs.existsSync(path.join(v.runDir, 'clock.json')));
  } finally { v.cleanup(); }
});

test('a local-time RTC: its zone offset is not a jump, a pause still is', async () => {
  const v = simulatedVm({ rtcLocalZoneS: 3600 });
  try {
    const h = v.make();
    await h.check();
    assert.ok(h.report().rtc_local);
    assert.ok(Math.abs(h.report().rtc_offset_ms! - -700) <= 10, String(h.report().rtc_offset_ms));
    v.pause(60_000);
    await h.check();
    assert.is(h.report().last!.result, 'stepped');
  } finally { v.cleanup(); }
});

test('no RTC (a container, this machine): reported, nothing stepped', async () => {
  const v = simulatedVm();
  try {
    fs.rmSync(path.join(v.runDir, '..', RTC_FILE));
    const h = v.make();
    await h.check();
    assert.is(h.report().heal, 'no-rtc');
    assert.is(v.s.steps.length, 0);
  } finally { v.cleanup(); }
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backoffDelay, decideRestart, DEFAULT_RESTART_POLICY as P, RestartState } from '../../supervisor/restart-policy';
import type { DeathReason } from '../../supervisor/death';

test('backoff: first failure at once, then base doubling to the cap, never giving up', () => {
  const table: Array<[number, number]> = [[0, 0], [1, 0], [2, 500], [3, 1000], [4, 2000], [5, 4000], [6, 8000], [7, 16000], [8, 30000], [9, 30000], [1000, 30000]];
  for (const [failures, delay] of table) assert.is(backoffDelay(failures, P), delay, `failures=${failures}`);
});

test('a crash loop: each quick death doubles the delay', () => {
  let s: RestartState = { failures: 0, lastSpawnAt: 0 };
  let t = 0;
  const delays: number[] = [];
  for (let i = 0; i < 9; i++) {
    s = { ...s, lastSpawnAt: t };
    t += 100; // dies 100 ms after spawn
    const d = decideRestart(s, { reason: 'crash', at: t, spawnedAt: t - 100 }, P);
    delays.push(d.delayMs);
    s = d.state;
    t += d.delayMs;
  }
  // The first restart waits only for the 500 ms floor between spawns.
  assert.equal(delays, [400, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
});

test('a stable period clears the failure count (boundary at stableMs)', () => {
  const s: RestartState = { failures: 7, lastSpawnAt: 0 };
  assert.is(decideRestart(s, { reason: 'crash', at: P.stableMs - 1, spawnedAt: 0 }, P).state.failures, 8);
  assert.is(decideRestart(s, { reason: 'crash', at: P.stableMs, spawnedAt: 0 }, P).state.failures, 1);
  assert.is(decideRestart(s, { reason: 'crash', at: P.stableMs, spawnedAt: 0 }, P).delayMs, 0);
});

test('outside kills and clean exits are not failures: restart at once after the floor', () => {
  const rows: Array<[DeathReason, number, number]> = [
    // reason, failures before, expected failures after
    ['signal', 3, 3], ['clean', 3, 3], ['crash', 3, 4], ['heap-oom', 3, 4], ['kernel-oom', 3, 4], ['hung', 3, 4],
  ];
  for (const [reason, before, after] of rows) {
    const d = decideRestart({ failures: before, lastSpawnAt: 0 }, { reason, at: 5000, spawnedAt: 0 }, P);
    assert.is(d.state.failures, after, reason);
  }
  assert.is(decideRestart({ failures: 0, lastSpawnAt: 0 }, { reason: 'signal', at: 2000, spawnedAt: 0 }, P).delayMs, 0);
});

test('the floor spaces spawns even for outside kills', () => {
  const d = decideRestart({ failures: 0, lastSpawnAt: 1000 }, { reason: 'signal', at: 1200, spawnedAt: 1000 }, P);
  assert.is(d.delayMs, 300);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { classifyDeath, DeathFacts, DeathReason } from '../../supervisor/death';

const base: DeathFacts = { code: null, signal: null, killedAsHung: false, stopRequested: false, stderrTail: '', oomKillEvidence: false };
const V8 = '<--- Last few GCs --->\nFATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory\n';

test('death classification table', () => {
  const rows: Array<[Partial<DeathFacts>, DeathReason]> = [
    [{ code: 0 }, 'clean'],
    [{ code: 1 }, 'crash'],
    [{ code: 70 }, 'crash'],
    [{ signal: 'SIGKILL' }, 'signal'],
    [{ signal: 'SIGTERM' }, 'signal'],
    [{ signal: 'SIGSEGV' }, 'signal'],
    [{ signal: 'SIGABRT' }, 'signal'],
    [{ signal: 'SIGABRT', stderrTail: V8 }, 'heap-oom'],
    [{ code: 134, stderrTail: V8 }, 'heap-oom'],
    [{ signal: 'SIGKILL', oomKillEvidence: true }, 'kernel-oom'],
    [{ signal: 'SIGTERM', oomKillEvidence: true }, 'signal'],
    [{ signal: 'SIGKILL', killedAsHung: true }, 'hung'],
    // Killed as hung while the OOM killer named it: the memory pressure is the cause.
    [{ signal: 'SIGKILL', killedAsHung: true, oomKillEvidence: true }, 'kernel-oom'],
    [{ signal: 'SIGTERM', stopRequested: true }, 'clean'],
    [{ signal: 'SIGKILL', stopRequested: true }, 'clean'],
    [{ code: 3, stopRequested: true }, 'crash'],
  ];
  for (const [facts, want] of rows) assert.is(classifyDeath({ ...base, ...facts }), want, JSON.stringify(facts));
});

test.run();

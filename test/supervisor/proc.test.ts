// The supervisor's /proc readers on files captured here (linux-6.18-*) and on 3.10-era layouts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { systemOomKills } from '../../supervisor/proc';
import { ROOT } from '../helpers/agent';

const fx = (dir: string, f: string) => fs.readFileSync(path.join(ROOT, 'test/fixtures/proc', dir, f), 'utf8');

test('the machine-wide OOM-kill count from /proc/vmstat; unknown (null) before Linux 4.13, never 0', () => {
  assert.is(systemOomKills(fx('linux-6.18-a', 'vmstat')), 22);
  // Null, not 0: an unknown count must not pass for "no OOM kill since the spawn" (the kernel log is read then).
  assert.is(systemOomKills(fx('linux-3.10', 'vmstat')), null);
  assert.is(systemOomKills(null), null);
  assert.type(systemOomKills(), 'number', 'this machine runs a kernel newer than 4.13');
});

test.run();

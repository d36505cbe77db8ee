// Rollouts: the waves a target list is cut into, and phoenix-ga-ctl rollout against real agents:
// a canary that fails halts the rollout and no other agent receives anything.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { planWaves } from '../../panel/rollout';
import { ROOT, startAgent } from '../helpers/agent';
import { scratchDir } from '../helpers/versions';

test('the canary first, then equal waves; every target exactly once, in order', () => {
  const t = (n: number) => Array.from({ length: n }, (_, i) => `t${i}`);
  const sizes = (n: number, canary: number, wave: number) => planWaves(t(n), { canary, wave }).map((w) => w.length);
  assert.equal(sizes(100, 0.05, 0.25), [5, 25, 25, 25, 20]);
  assert.equal(sizes(3, 0.05, 0.25), [1, 1, 1]);
  assert.equal(sizes(1, 0.05, 0.25), [1]);
  assert.equal(sizes(10, 1, 0.5), [10]);
  assert.equal(sizes(0, 0.05, 0.25), []);
  assert.equal(planWaves(t(7), { canary: 0.2, wave: 0.5 }).flat(), t(7));
});

test('a failing canary halts the rollout: the other agents receive nothing', async () => {
  const keys = scratchDir('pga-rollout-');
  spawnSync(process.execPath, [path.join(ROOT, 'build/release.mjs'), 'keygen', '--out', path.join(keys, 'k')]);
  const rel = path.join(keys, 'rel');
  assert.is(spawnSync(process.execPath, [path.join(ROOT, 'build/release.mjs'), '--key', path.join(keys, 'k'), '--out', rel]).status, 0);
  // Agents not in the installed layout: each refuses to apply, a real failure of a real agent.
  const agents = [startAgent(), startAgent(), startAgent(), startAgent()];
  try {
    await Promise.all(agents.map((a) => a.waitReady()));
    fs.writeFileSync(path.join(keys, 'targets'), `# the fleet\n${agents.map((a) => a.sock).join('\n')}\n`);
    const r = spawnSync(process.execPath, [path.join(ROOT, 'dist/phoenix-ga-ctl.js'), 'rollout', '--release', rel, '--targets', path.join(keys, 'targets'), '--canary', '0.25', '--wave', '0.5'], { encoding: 'utf8', timeout: 120_000 });
    assert.is(r.status, 1, r.stderr);
    assert.is(r.stdout, '0 of 4 updated, 1 failed; 1 of 1 updates failed, over the allowed 0.1; halted before 2 more wave(s): 3 untouched\n');
    assert.match(r.stderr, new RegExp(`^  FAIL ${agents[0].sock}: GenericError: the agent does not run from an installed version directory`, 'm'));
    assert.ok(fs.existsSync(path.join(agents[0].dir, 'state/incoming')), 'the canary got the upload');
    for (const a of agents.slice(1)) assert.not.ok(fs.existsSync(path.join(a.dir, 'state/incoming')), `${a.sock} untouched`);
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
  }
});

test.run();

// The collector's view of the fleet's versions and updates, from authentic heartbeats sent to a
// real collector process: VMs counted by version, by the state of their last update, the failed
// ones listed, in JSON (/versions) and Prometheus (/metrics); a forged update field is refused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'crypto';
import { encodeHeartbeat, HeartbeatPayload } from '../../supervisor/heartbeat-packet';
import { tempDir, waitFor } from '../helpers/agent';
import { startCollector } from './collector-process';

const base = { boot: 'b', interval_ms: 1000, sup: { pid: 1, up_ms: 1, start_ms: 1, ver: '0.1.0', rss_kb: 1, anon_kb: 1 }, worker: { state: 'ready', pid: 2, gen: 1, progress_age_ms: 1, rss_kb: 1, anon_kb: 1 }, restarts: { total: 0, failures_10m: 0 }, last_exit: null, channel: { kind: 'unix', state: 'open' } } as HeartbeatPayload;

test('versions and update states of the fleet, in JSON and Prometheus', async () => {
  const keys = { 'vm-1': crypto.randomBytes(32), 'vm-2': crypto.randomBytes(32), 'vm-3': crypto.randomBytes(32), 'vm-4': crypto.randomBytes(32) };
  const c = await startCollector(tempDir(), keys);
  try {
    const beat = (vm: keyof typeof keys, p: Partial<HeartbeatPayload>) => c.send(encodeHeartbeat({ vmId: vm, keyId: 'k1', startCounter: 1n, epoch: crypto.randomBytes(8).toString('hex'), seq: 1n, payload: { ...base, ...p } }, keys[vm]));
    await beat('vm-1', { sup: { ...base.sup, ver: '0.2.0' }, update: { state: 'updated', from: '0.1.0', to: '0.2.0' } });
    await beat('vm-2', { sup: { ...base.sup, ver: '0.1.0' }, update: { state: 'update-failed', from: '0.1.0', to: '0.2.0', why: 'not-ready' } });
    await beat('vm-3', {});
    // A key holder's payload with an update state the receiver does not know: the beat is refused whole.
    await c.send(encodeHeartbeat({ vmId: 'vm-4', keyId: 'k1', startCounter: 1n, epoch: 'aaaaaaaaaaaaaaaa', seq: 1n, payload: { ...base, update: { state: 'pwned\n', from: '0.1.0', to: '0.2.0' } } as unknown as HeartbeatPayload }, keys['vm-4']));
    const fleet = await waitFor('three VMs seen', async () => { const f = await c.getJson('/versions'); return Object.values(f.versions as Record<string, number>).reduce((a, b) => a + b, 0) === 3 && f; }, 5000, 50);
    assert.equal(fleet, { versions: { '0.2.0': 1, '0.1.0': 2 }, updates: { updated: 1, 'update-failed': 1, none: 1 }, failed: [{ vm: 'vm-2', from: '0.1.0', to: '0.2.0', why: 'not-ready' }] });
    const m = (await c.get('/metrics')).body;
    assert.match(m, /^phoenix_ga_version_vms\{version="0.1.0"\} 2$/m);
    assert.match(m, /^phoenix_ga_update_vms\{state="update-failed"\} 1$/m);
    assert.match(m, /^phoenix_ga_update_failed\{vm="vm-2",from="0.1.0",to="0.2.0",why="not-ready"\} 1$/m);
    assert.not.match(m, /pwned/);
    assert.is((await c.getJson('/vms/vm-4')).state, 'never-seen');
  } finally {
    c.stop();
  }
});

test.run();

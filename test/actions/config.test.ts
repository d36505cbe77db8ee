// phoenix-set-config and phoenix-get-config on a running agent with a config file of its own: the
// lists and statistics settings change in the running worker (same pid, same generation) and stay
// for the next; every refusal names what is wrong and writes nothing; the key file and the config
// file are written both or neither; SIGHUP applies a hand-edited file's live keys.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { AgentClient, AgentError } from '../../panel/agent-client';
import { startAgent, tempDir, waitFor } from '../helpers/agent';

/** An agent whose config file is DIR/conf/phoenix-ga.conf with LINES; its key goes to DIR/keys/. */
function agentWithConfig(lines: string[]) {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'conf'), { mode: 0o755 });
  fs.mkdirSync(path.join(dir, 'keys'), { mode: 0o700 });
  const conf = path.join(dir, 'conf/phoenix-ga.conf');
  const keyFile = path.join(dir, 'keys/heartbeat.key');
  fs.writeFileSync(conf, [`heartbeat-key-file = ${keyFile}`, ...lines].join('\n') + '\n', { mode: 0o600 });
  const agent = startAgent({ dir, args: ['--config', conf] });
  return { dir, conf, keyFile, agent, client: new AgentClient({ path: agent.sock }) };
}

const bytes = (...files: string[]) => files.map((f) => { try { return `${fs.statSync(f).ino}:${fs.readFileSync(f, 'hex')}`; } catch { return null; } });
const refused = async (c: AgentClient, args: Record<string, unknown>): Promise<string> => {
  const e = await c.call('phoenix-set-config', args, { mutating: true }).then(() => null, (x: AgentError) => x);
  if (!(e instanceof AgentError)) throw new Error(`not refused: ${JSON.stringify(args)}`);
  return e.desc;
};

test('lists and statistics settings apply in the running worker, without a new generation, and stay for the next one', async () => {
  const { agent, client: c } = agentWithConfig(['block-rpcs = guest-exec']);
  try {
    const pid = await agent.waitReady();
    const gen = agent.state()!.worker.generation;
    assert.ok((await c.call('guest-get-osinfo') as any)['kernel-release']);
    // guest-info answered once before the change: its reply must not outlive the lists it came from.
    assert.is((await c.call('guest-info') as any).supported_commands.find((x: any) => x.name === 'guest-get-osinfo').enabled, true);
    const r = await c.call('phoenix-set-config', { 'block-rpcs': ['guest-get-osinfo', 'guest-exec'], 'stats-interval': 2, 'stats-history': 50 }, { mutating: true }) as any;
    assert.equal(r.changed, [
      { key: 'block-rpcs', old: ['guest-exec'], new: ['guest-get-osinfo', 'guest-exec'] },
      { key: 'stats-interval', old: 60, new: 2 },
      { key: 'stats-history', old: 720, new: 50 },
    ]);
    assert.is(r.worker_restarted, false);
    const check = async () => {
      const e = await c.call('guest-get-osinfo').catch((x: AgentError) => x) as AgentError;
      assert.is(e.desc, 'Command guest-get-osinfo has been disabled');
      const info = await c.call('guest-info') as any;
      assert.is(info.supported_commands.find((x: any) => x.name === 'guest-get-osinfo').enabled, false);
      const s = await c.call('phoenix-get-stats', { max: 1 }) as any;
      assert.is(s.interval_ms, 2000);
      assert.is(s.history.capacity, 50);
    };
    await check();
    assert.is(agent.workerPid(), pid, 'the same worker');
    assert.is(agent.state()!.worker.generation, gen, 'the same generation');
    // The next generation gets them from the supervisor.
    process.kill(pid, 'SIGKILL');
    await waitFor('a new worker', () => { const s = agent.state(); return s?.worker.state === 'ready' && s.worker.pid !== pid; }, 8000);
    await check();
  } finally {
    c.close();
    await agent.stop();
  }
});

test('refusals name the bad value and what was expected, and write nothing', async () => {
  const { conf, keyFile, agent, client: c } = agentWithConfig(['block-rpcs = guest-exec', 'stats-history = 100']);
  try {
    await agent.waitReady();
    const key = crypto.randomBytes(32).toString('hex');
    const before = bytes(conf, keyFile);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ 'heartbeat-interval': 5 }, "Parameter 'heartbeat-interval' is set by the command-line flag --heartbeat-interval, which overrides the config file; remove the flag from the service's command line to set it over the channel"],
      [{ 'vm-id': 'vm-2' }, "Parameter 'vm-id' is set by the command-line flag --vm-id, which overrides the config file; remove the flag from the service's command line to set it over the channel"],
      [{ 'allow-rpcs': ['guest-ping', 'guest-sync-delimited', 'phoenix-set-config'] }, `the configuration would not load with this change, so nothing was written: ${conf}: allow-rpcs and block-rpcs: set only one of the two`],
      [{ 'allow-rpcs': ['guest-ping'], reset: ['block-rpcs'] }, "Parameters 'allow-rpcs'/'block-rpcs' would disable guest-sync-delimited and phoenix-set-config, and the panel could not change the configuration again; keep guest-sync-delimited and phoenix-set-config enabled (the config file in the server can disable them)"],
      [{ 'block-rpcs': ['phoenix-set-config'] }, "Parameters 'allow-rpcs'/'block-rpcs' would disable phoenix-set-config, and the panel could not change the configuration again; keep guest-sync-delimited and phoenix-set-config enabled (the config file in the server can disable them)"],
      [{ 'block-rpcs': ['guest exec'] }, "Parameter 'block-rpcs' 'guest exec' is not a command name"],
      [{ 'key-id': 'k1' }, "Parameter 'key-id' needs 'key': the key file holds both"],
      [{}, 'nothing to set: give at least one of heartbeat, vm-id, heartbeat-interval, stats-interval, stats-history, allow-rpcs, block-rpcs, key, reset'],
      [{ heartbeat: '192.0.2.1:7070', reset: ['heartbeat'] }, "Parameter 'reset' names 'heartbeat', which is also set: give one or the other"],
      [{ 'stats-interval': 0 }, "Parameter 'stats-interval' expected a number from 1 to 3600, got '0'"],
      [{ 'stats-interval': 1.5 }, "Invalid parameter type for 'stats-interval', expected: integer"],
      [{ 'stats-history': 5, heartbeat: '192.0.2.1:7070' }, "Parameter 'stats-history' expected a number from 10 to 10000, got '5'"],
      [{ 'heartbeat-interval': '10' }, "Invalid parameter type for 'heartbeat-interval', expected: number"],
      [{ 'heartbeat-key-file': '/tmp/x' }, "Parameter 'heartbeat-key-file' is unexpected"],
      [{ reset: ['channel'] }, "Parameter 'reset[0]' does not accept value 'channel'"],
      [{ key, 'key-id': 'a-key-id-that-is-longer-than-32-chars' }, "Parameter 'key-id' expected 1 to 32 of A-Z a-z 0-9 . _ : -, got 'a-key-id-that-is-longer-than-32-chars'"],
    ];
    for (const [args, want] of cases) assert.is(await refused(c, args), want, JSON.stringify(args));
    assert.equal(bytes(conf, keyFile), before, 'nothing written');

    // A config file that became a link, or writable by others, is refused as the supervisor would refuse it.
    fs.renameSync(conf, `${conf}.real`);
    fs.symlinkSync(`${conf}.real`, conf);
    assert.is(await refused(c, { heartbeat: '192.0.2.1:7070' }), `${conf} is a symbolic link; refusing to use it`);
    fs.rmSync(conf);
    fs.renameSync(`${conf}.real`, conf);
    fs.chmodSync(conf, 0o666);
    assert.is(await refused(c, { heartbeat: '192.0.2.1:7070' }), `${conf} is writable by group or others (mode 666)`);
    fs.chmodSync(conf, 0o600);
    // A key directory others may write to.
    fs.chmodSync(path.dirname(keyFile), 0o777);
    assert.is(await refused(c, { key, heartbeat: '192.0.2.1:7070' }), `directory ${path.dirname(keyFile)} is writable by group or others (mode 777); refusing to write ${keyFile} there`);
    fs.chmodSync(path.dirname(keyFile), 0o700);
    assert.equal(bytes(conf, keyFile), before, 'nothing written');

    // Both files or neither: the config file cannot be written (immutable directory), the key comes back.
    fs.writeFileSync(keyFile, `k0 ${crypto.randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const keyBefore = fs.readFileSync(keyFile, 'utf8');
    execFileSync('chattr', ['+i', path.dirname(conf)]);
    try {
      const why = await refused(c, { key, 'key-id': 'k9', heartbeat: '192.0.2.1:7070' });
      assert.is(why, `${conf} could not be written (EPERM)`);
    } finally {
      execFileSync('chattr', ['-i', path.dirname(conf)]);
    }
    assert.is(fs.readFileSync(keyFile, 'utf8'), keyBefore, 'the old key is back');
    assert.equal(bytes(conf)[0], before[0], 'the config file as it was');
    assert.not.ok(agent.output().includes(key.slice(0, 16)), 'no key in the log');
    assert.equal(fs.readdirSync(path.dirname(conf)), ['phoenix-ga.conf'], 'no temporary file left');
  } finally {
    c.close();
    await agent.stop();
  }
});

test('SIGHUP applies a hand-edited file\'s live keys; a broken file keeps the old; get-config shows what waits for a restart', async () => {
  const { conf, agent, client: c } = agentWithConfig(['stats-history = 100']);
  try {
    const pid = await agent.waitReady();
    fs.appendFileSync(conf, 'stop-grace = 3\n');
    fs.writeFileSync(conf, fs.readFileSync(conf, 'utf8').replace('stats-history = 100', 'stats-history = 30'));
    process.kill(agent.proc.pid!, 'SIGHUP');
    await waitFor('history of 30', async () => ((await c.call('phoenix-get-stats', { max: 1 })) as any).history.capacity === 30, 3000);
    const g = await c.call('phoenix-get-config') as any;
    assert.equal(g.keys['stats-history'], { value: 30, from: 'file', where: `${conf}:2` });
    assert.equal(g.keys['stop-grace'], { value: 5, from: 'file', where: `${conf}:3`, in_file: 3, applies: 'at the next start' });
    assert.equal(g.keys['heartbeat-interval'], { value: 0.2, from: 'flag', where: '--heartbeat-interval' });
    assert.equal(g.keys['block-rpcs'].from, 'default');
    assert.equal(g.key, { file: g.key.file, set: false });

    fs.writeFileSync(conf, fs.readFileSync(conf, 'utf8').replace('stats-history = 30', 'stats-history = lots'));
    process.kill(agent.proc.pid!, 'SIGHUP');
    await waitFor('the refusal logged', () => agent.output().includes(`config not reloaded: ${conf}:2: stats-history: expected a number from 10 to 10000, got 'lots'`), 3000);
    assert.is(((await c.call('phoenix-get-stats', { max: 1 })) as any).history.capacity, 30);
    const g2 = await c.call('phoenix-get-config') as any;
    assert.match(g2.config_file.problem, /stats-history: expected a number from 10 to 10000, got 'lots'/);
    assert.is(agent.workerPid(), pid, 'nothing restarted');
    assert.is(agent.proc.exitCode, null);
  } finally {
    c.close();
    await agent.stop();
  }
});

test.run();

// The supervisor's freeze guard and log on their own, with real files, a real tmpfs and a real
// frozen ext4: a record that cannot be made refuses the freeze and leaves the log running; the
// exit path thaws at once and its last line reaches the log file although the log was paused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { createLogger } from '../../supervisor/log';
import { createFreezeGuard } from '../../supervisor/thaw';
import { SUPERVISOR, tempDir, waitFor } from '../helpers/agent';
import { loopFs, writes } from '../helpers/loop-fs';
import { tinyFs } from '../helpers/tiny-fs';

test('a full run directory: the freeze is refused with the reason, nothing recorded, the log not paused', () => {
  const run = tinyFs(16);
  try {
    const lines: string[] = [];
    const pauses: boolean[] = [];
    const guard = createFreezeGuard(run.dir, { log: (_l, _s, m) => lines.push(m), fatal: () => undefined }, (p) => pauses.push(p));
    run.fill();
    const why = guard.frozen(['/mnt/a', '/mnt/b'], Date.now() + 60_000);
    assert.match(why ?? 'recorded', /^cannot record the freeze of \/mnt\/a, \/mnt\/b: ENOSPC/);
    assert.equal(pauses, []);
    assert.equal(fs.readdirSync(run.dir).sort(), ['filler'], 'no frozen.json, no frozen.json.new');
    assert.match(lines.join('\n'), /nothing is frozen/);
    run.unfill();
    assert.is(guard.frozen(['/mnt/a'], null), null);
    assert.equal(pauses, [true]);
    assert.equal(JSON.parse(fs.readFileSync(path.join(run.dir, 'frozen.json'), 'utf8')).mounts, ['/mnt/a']);
    guard.frozen([], null);
    assert.ok(!fs.existsSync(path.join(run.dir, 'frozen.json')));
  } finally {
    run.cleanup();
  }
});

test('on the way out: thawed before the call returns, and the last line is in the file after the held ones', async () => {
  const l = loopFs();
  const dir = tempDir();
  const file = path.join(dir, 'log');
  try {
    const log = createLogger({ file, maxBytes: 1 << 20 });
    const guard = createFreezeGuard(dir, log, (p) => log.pause!(p));
    log.log('info', 'supervisor', 'before the freeze');
    assert.is(guard.frozen([l.mnt], Date.now() + 60_000), null);
    execFileSync('fsfreeze', ['-f', l.mnt]);
    log.log('warn', 'worker[1]', 'held while frozen');
    assert.is(await writes(l.mnt, 500), false, 'frozen');
    guard.thawNow('the supervisor is exiting after an internal error', true);
    log.fatal('supervisor', 'internal error: boom');
    assert.is(await writes(l.mnt, 3000), true, 'thawed before thawNow returned');
    const text = fs.readFileSync(file, 'utf8');
    assert.match(text, /before the freeze\n.*held while frozen\n.*thawed .* \(the supervisor is exiting after an internal error\)\n.*supervisor error: internal error: boom\n$/);
    // While paused, fatal() writes at once, the held lines first.
    log.pause!(true);
    log.log('info', 'x', 'held again');
    log.fatal('supervisor', 'the last words');
    assert.match(fs.readFileSync(file, 'utf8'), /held again\n.*the last words\n$/);
  } finally {
    l.cleanup();
  }
});

test('a console on a full disk: the supervisor logs on and keeps running', async () => {
  const disk = tinyFs(16);
  const dir = tempDir();
  try {
    disk.fill();
    const err = fs.openSync(path.join(disk.dir, 'filler'), 'a');
    const p = spawn(process.execPath, [SUPERVISOR, '--channel', `unix:${dir}/s.sock`, '--run-dir', `${dir}/run`, '--state-dir', `${dir}/state`, '--log-file', '-', '--heartbeat-interval', '0.1'], { stdio: ['ignore', 'ignore', err] });
    fs.closeSync(err);
    await waitFor('the worker is ready', () => { try { return JSON.parse(fs.readFileSync(`${dir}/run/state.json`, 'utf8')).worker.state === 'ready'; } catch { return false; } }, 5000);
    await new Promise((r) => setTimeout(r, 500));
    assert.is(p.exitCode, null, 'alive');
    p.kill('SIGTERM');
    assert.is(await new Promise((r) => p.once('exit', (code) => r(code))), 0);
  } finally {
    disk.cleanup();
  }
});

test.run();

// Arming a descriptor for SIGIO through perl (agent/channel/port-signal.ts), on a FIFO: the kernel
// signals a FIFO's owner when data arrives, as the virtio port's driver does when the host comes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { armPortSignal } from '../../../agent/channel/port-signal';

const O_ASYNC = 0o20000;
const flags = (fd: number) => parseInt(/flags:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1], 8);
const arm = (fd: number, signalled: () => void, perl?: string) => new Promise<string | null>((r) => armPortSignal(fd, signalled, r, perl));

function fifo(): { fd: number; path: string; done(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'port-signal-'));
  const p = path.join(dir, 'port');
  assert.is(spawnSync('mkfifo', [p]).status, 0);
  const fd = fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  return { fd, path: p, done: () => { fs.closeSync(fd); fs.rmSync(dir, { recursive: true }); } };
}

test('armed: this process is signalled when data arrives, and the descriptor stays non-blocking', async () => {
  const f = fifo();
  try {
    let signals = 0;
    assert.is(await arm(f.fd, () => signals++), null);
    const fl = flags(f.fd);
    assert.ok(fl & O_ASYNC, `O_ASYNC set (flags ${fl.toString(8)})`);
    assert.ok(fl & fs.constants.O_NONBLOCK, `O_NONBLOCK kept (flags ${fl.toString(8)})`);
    fs.writeFileSync(f.path, 'x');
    for (let i = 0; i < 100 && !signals; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(signals >= 1, 'SIGIO reached the listener');
  } finally {
    f.done();
  }
});

test('no perl: arming reports why, the descriptor is left as it was, and a stray SIGIO does not kill', async () => {
  const f = fifo();
  try {
    let signals = 0;
    const err = await arm(f.fd, () => signals++, '/nonexistent/perl');
    assert.ok(err && /ENOENT/.test(err), String(err));
    assert.not.ok(flags(f.fd) & O_ASYNC);
    process.kill(process.pid, 'SIGIO');
    for (let i = 0; i < 100 && !signals; i++) await new Promise((r) => setTimeout(r, 10));
    assert.is(signals, 1);
  } finally {
    f.done();
  }
});

test("perl gets root's tool directories and nothing of the worker's environment (its config carries guest data)", async () => {
  const f = fifo();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'port-signal-env-'));
  const prev = process.env.PHOENIX_GA_WORKER;
  try {
    const fake = path.join(dir, 'perl');
    fs.writeFileSync(fake, `#!/bin/sh\nenv > ${dir}/env\n`, { mode: 0o755 });
    process.env.PHOENIX_GA_WORKER = '{"owedReplies":"guest data"}';
    assert.is(await arm(f.fd, () => undefined, fake), null);
    const env = fs.readFileSync(path.join(dir, 'env'), 'utf8');
    assert.not.match(env, /PHOENIX_GA|guest data/);
    assert.match(env, /^PATH=\/usr\/sbin:\/usr\/bin:\/sbin:\/bin$/m);
  } finally {
    if (prev === undefined) delete process.env.PHOENIX_GA_WORKER; else process.env.PHOENIX_GA_WORKER = prev;
    f.done();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

// Proxmox VE's whole agent command list, sent the way a Proxmox host sends it (test/helpers/
// proxmox-client.ts), to Debian's qemu-ga and to phoenix-ga on the same machine, each on a serial
// port (a pty; both in their isa-serial mode) that a host-side socket relays to, one connection
// per command as QEMU's chardev serves Proxmox. Wherever the call works on qemu-ga it must work on
// phoenix-ga, with the same shape.
// Not sent here, because they act on the machine running the tests: guest-fsfreeze-freeze/-thaw
// (they freeze every local file system), guest-suspend-*, guest-shutdown. Freezing is tested on a
// loop file system in test/actions and in the VM test; suspend's refusals in test/actions.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Agent, startAgent, tempDir, waitFor } from '../helpers/agent';
import { perlBase64, ProxmoxQga, ProxmoxResult } from '../helpers/proxmox-client';
import { QEMU_GA } from '../helpers/qemu-ga';
import { startedChardevHost } from '../helpers/serial-bridge';

interface Side { name: string; client: ProxmoxQga; stop(): Promise<void> }
const S = suite<{ qga: Side; pga: Side; dir: string; user: string }>('proxmox wire vs qemu-ga');

S.before(async (ctx) => {
  if (!QEMU_GA) throw new Error('qemu-ga not found: apt-get install qemu-guest-agent (.ci/run does)');
  ctx.dir = tempDir('pga-pve-');
  const qd = path.join(ctx.dir, 'qga');
  const pd = path.join(ctx.dir, 'pga');
  fs.mkdirSync(qd);
  fs.mkdirSync(pd);
  const qb = await startedChardevHost(qd);
  const qproc = spawn(QEMU_GA, ['-m', 'isa-serial', '-p', qb.port, '-t', qd, '-l', path.join(qd, 'log')], { stdio: 'ignore' });
  const pb = await startedChardevHost(pd);
  // As Debian's qemu-ga runs: nothing blocked (phoenix-ga blocks exec and file access by default).
  const agent: Agent = startAgent({ dir: pd, channel: `isa-serial:${pb.port}`, interval: 1, hangTimeout: 30, args: ['--block-rpcs', ''], testCommands: true });
  await agent.waitReady();
  ctx.qga = { name: 'qemu-ga', client: new ProxmoxQga(qb.hostSock, 'qemu-ga'), stop: async () => { qproc.kill('SIGKILL'); qb.proc.kill(); } };
  ctx.pga = { name: 'phoenix-ga', client: new ProxmoxQga(pb.hostSock, 'phoenix-ga'), stop: async () => { await agent.stop(); pb.proc.kill(); } };
  // qemu-ga's first reads of the port may race its start: wait until it answers.
  await waitFor('qemu-ga answers', async () => (await ctx.qga.client.cmd('guest-ping').catch(() => null)) !== null, 10_000, 200);
  ctx.user = `pgapve${crypto.randomBytes(3).toString('hex')}`;
  execFileSync('useradd', ['-M', '-u', String(40000 + crypto.randomInt(20000)), ctx.user]);
});
S.after(async (ctx) => {
  await ctx.qga?.stop();
  await ctx.pga?.stop();
  if (ctx.user) spawnSync('userdel', [ctx.user], { stdio: 'ignore' });
});

/** The shape of a value: its type, and for objects the sorted keys with their shapes (arrays: the first element's). */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, shape((v as Record<string, unknown>)[k])]));
  }
  return typeof v;
}

async function both(ctx: { qga: Side; pga: Side }, execute: string, args: Record<string, unknown> = {}): Promise<[ProxmoxResult, ProxmoxResult]> {
  const theirs = await ctx.qga.client.cmd(execute, args);
  const ours = await ctx.pga.client.cmd(execute, args);
  return [theirs, ours];
}

// The read calls Proxmox's API and GUI make. Values that are the machine's own must agree too.
const SAME_VALUE = new Set(['guest-get-host-name', 'guest-get-osinfo', 'guest-get-timezone', 'guest-get-vcpus', 'guest-fsfreeze-status', 'guest-get-memory-block-info']);
for (const execute of ['guest-ping', 'guest-get-time', 'guest-info', 'guest-fsfreeze-status', 'guest-network-get-interfaces', 'guest-get-vcpus',
  'guest-get-fsinfo', 'guest-get-memory-blocks', 'guest-get-memory-block-info', 'guest-get-host-name', 'guest-get-osinfo', 'guest-get-users',
  'guest-get-timezone', 'guest-fstrim']) {
  S(`${execute}: answered as qemu-ga answers, the Proxmox way`, async (ctx) => {
    const [theirs, ours] = await both(ctx, execute);
    assert.is('error' in ours, 'error' in theirs, `qemu-ga: ${JSON.stringify(theirs).slice(0, 300)}\nphoenix-ga: ${JSON.stringify(ours).slice(0, 300)}`);
    if ('error' in theirs) { assert.is(ours.error!.class, theirs.error!.class); return; }
    // qemu-ga lists vCPUs from the highest id down; phoenix-ga by id (docs/protocol.md).
    const byId = (v: unknown): unknown => Array.isArray(v) && execute === 'guest-get-vcpus' ? [...v].sort((a, b) => a['logical-id'] - b['logical-id']) : v;
    if (SAME_VALUE.has(execute)) assert.equal(byId(ours.return), byId(theirs.return));
    else if (execute === 'guest-info') assert.ok((ours.return as { supported_commands: unknown[] }).supported_commands.length >= (theirs.return as { supported_commands: unknown[] }).supported_commands.length);
    else if (execute === 'guest-get-time') assert.ok(Math.abs(Number(ours.return) - Number(theirs.return)) < 5e9);
    else if (!['guest-network-get-interfaces', 'guest-get-fsinfo', 'guest-fstrim', 'guest-get-memory-blocks'].includes(execute)) assert.equal(shape(ours.return), shape(theirs.return));
    else assert.is(Array.isArray(ours.return) || typeof ours.return === 'object', true);
  });
}

S('qm guest passwd: the password in Perl base64 (76-column lines, a trailing newline) sets it on both', async (ctx) => {
  // Longer than 57 bytes, so its base64 wraps.
  const password = `pve-${crypto.randomBytes(40).toString('hex')}`;
  const shadowHash = (): string => fs.readFileSync('/etc/shadow', 'utf8').split('\n').find((l) => l.startsWith(`${ctx.user}:`))!.split(':')[1];
  for (const side of [ctx.qga, ctx.pga]) {
    const before = shadowHash();
    const r = await side.client.cmd('guest-set-user-password', { username: ctx.user, password: perlBase64(password), crypted: false });
    assert.equal(r, { return: {} }, `${side.name}: ${JSON.stringify(r)}`);
    const hash = shadowHash();
    assert.is.not(hash, before, side.name);
    const check = spawnSync('perl', ['-e', 'print crypt($ARGV[0], $ARGV[1]) eq $ARGV[1] ? "ok" : "no"', password, hash], { encoding: 'utf8' });
    assert.is(check.stdout, 'ok', `${side.name}: the password in /etc/shadow is the one sent`);
  }
});

S('qm guest exec and exec-status: the same output, as Proxmox polls for it', async (ctx) => {
  for (const side of [ctx.qga, ctx.pga]) {
    const started = await side.client.cmd('guest-exec', { path: '/bin/sh', arg: ['-c', 'echo out; echo err >&2; exit 3'], 'capture-output': true });
    const pid = (started.return as { pid: number }).pid;
    assert.ok(pid > 0, `${side.name}: ${JSON.stringify(started)}`);
    const status = await waitFor(`${side.name} exited`, async () => {
      const r = await side.client.cmd('guest-exec-status', { pid });
      return (r.return as { exited: boolean }).exited && r.return as Record<string, unknown>;
    }, 5000, 100);
    assert.equal({ code: status.exitcode, out: Buffer.from(String(status['out-data']), 'base64').toString(), err: Buffer.from(String(status['err-data']), 'base64').toString() },
      { code: 3, out: 'out\n', err: 'err\n' }, side.name);
  }
});

S('qm guest file-read in 1 MiB chunks and file-write (Perl base64): the same bytes', async (ctx) => {
  const src = path.join(ctx.dir, 'src.bin');
  const content = crypto.randomBytes(3 * (1 << 20) + 12345);
  fs.writeFileSync(src, content);
  const session = async (side: Side): Promise<void> => {
    const handle = (await side.client.cmd('guest-file-open', { path: src })).return as number;
    assert.type(handle, 'number', side.name);
    const parts: Buffer[] = [];
    let eof = false;
    let left = 16 << 20;
    while (left > 0 && !eof) {
      const r = (await side.client.cmd('guest-file-read', { handle, count: 1 << 20 })).return as { 'buf-b64': string; count: number; eof: boolean };
      parts.push(Buffer.from(r['buf-b64'], 'base64'));
      left -= r.count;
      eof = r.eof;
    }
    assert.equal(await side.client.cmd('guest-file-close', { handle }), { return: {} });
    assert.ok(Buffer.concat(parts).equals(content), `${side.name}: file-read gave other bytes`);

    const dst = path.join(ctx.dir, `written-by-${side.name}`);
    const text = `line one\n${'x'.repeat(60 * 1024 - 20)}\nend`;
    const wh = (await side.client.cmd('guest-file-open', { path: dst, mode: 'wb' })).return as number;
    const w = await side.client.cmd('guest-file-write', { handle: wh, 'buf-b64': perlBase64(text) });
    assert.is((w.return as { count: number }).count, Buffer.byteLength(text), side.name);
    assert.equal(await side.client.cmd('guest-file-close', { handle: wh }), { return: {} });
    assert.is(fs.readFileSync(dst, 'utf8'), text, side.name);
  };
  // qemu-ga 7.2 on a pty now and then never answers the 80 KB file-write (its sync reply comes,
  // the write's does not): noted, not held against the comparison. phoenix-ga must always answer.
  await session(ctx.qga).catch((e) => console.log(`    qemu-ga: ${(e as Error).message}`));
  await session(ctx.pga);
});

S('Proxmox checks the agent with guest-ping (3 s) while an earlier call still runs: phoenix-ga answers it at once', async (ctx) => {
  // An earlier Proxmox call gave up on a long command (its connection closed); the command goes on.
  const slow = ctx.pga.client.cmd('phoenix-test-mutate', { file: path.join(ctx.dir, 'slow'), tag: 's', ms: 6000 }, 500).catch((e) => e as Error);
  assert.match(String(await slow), /got timeout/);
  const t0 = Date.now();
  assert.equal(await ctx.pga.client.cmd('guest-ping'), { return: {} });
  assert.ok(Date.now() - t0 < 3000);
});

S.run();

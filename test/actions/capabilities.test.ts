// phoenix-capabilities through the real agent, each reason caused for real: a command blocked by
// the config, tools hidden in a private mount namespace (a bind mount of /dev/null over them: no
// longer executable, as when the package is not installed), a real loop file system frozen, the
// system tree on a real tmpfs turned read-only or filled, the journal's state directory read-only,
// and this machine's kernel, which offers no sleep state (/sys/power/state is empty here).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { NEEDS } from '../../agent/capabilities/needs';
import { commandTable } from '../../agent/commands/table';
import { Agent, AgentOptions, startAgent } from '../helpers/agent';
import { loopFs } from '../helpers/loop-fs';
import { QgaClient } from '../helpers/qga-client';
import { makeTree } from '../helpers/root-tree';
import { tinyFs } from '../helpers/tiny-fs';

interface Cap { name: string; enabled: boolean; reasons?: Array<{ kind: string; desc: string }> }
interface Caps { commands: Cap[]; frozen: boolean; root: string; journal: unknown }

async function withAgent<T>(o: AgentOptions, f: (c: QgaClient, a: Agent) => Promise<T>): Promise<T> {
  const agent = startAgent({ interval: 0.5, hangTimeout: 10, ...o });
  try {
    await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    try { return await f(c, agent); } finally { c.close(); }
  } finally { await agent.stop(); }
}

const caps = async (c: QgaClient): Promise<Caps> => {
  const r = await c.request('phoenix-capabilities');
  assert.ok(r.return, JSON.stringify(r));
  return r.return as Caps;
};
const of = (x: Caps, name: string): Cap => x.commands.find((c) => c.name === name) ?? assert.unreachable(`${name} missing`) as never;
const kinds = (x: Caps, name: string) => (of(x, name).reasons ?? []).map((r) => r.kind);

const S = suite('phoenix-capabilities');

S('every command of the table has its needs declared', () => {
  for (const c of commandTable({ testCommands: false })) assert.ok(c.name in NEEDS, `${c.name} has no entry in agent/capabilities/needs.ts`);
});

S('on this machine: the same commands as guest-info; config blocks; the kernel has no sleep state', async () => {
  await withAgent({ args: ['--os-root', makeTree().root, '--block-rpcs', 'guest-fstrim,guest-exec'] }, async (c) => {
    const x = await caps(c);
    const info = (await c.request('guest-info')).return.supported_commands as Array<{ name: string; enabled: boolean }>;
    assert.equal(x.commands.map((k) => k.name), info.map((k) => k.name));
    assert.equal(of(x, 'guest-ping'), { name: 'guest-ping', enabled: true });
    assert.equal(of(x, 'guest-fstrim'), { name: 'guest-fstrim', enabled: false, reasons: [{ kind: 'config', desc: 'disabled by the configuration: listed in block-rpcs' }] });
    assert.is(of(x, 'guest-exec').enabled, false);
    // guest-info's enabled is the config's alone, as qemu-ga's.
    assert.is(info.find((k) => k.name === 'guest-fstrim')!.enabled, false);
    if ((fs.readFileSync('/sys/power/state', 'utf8').trim()) === '') {
      assert.equal(kinds(x, 'guest-suspend-ram'), ['kernel']);
      assert.match(of(x, 'guest-suspend-ram').reasons![0].desc, /\/sys\/power\/state/);
    }
    assert.equal([x.frozen, x.root, x.journal], [false, 'writable', null]);
  });
});

S('missing tools: chpasswd, fstrim and ip hidden in a private mount namespace', async () => {
  const hide = ['/usr/sbin/chpasswd', '/usr/sbin/fstrim', '/usr/sbin/ip', '/usr/bin/ip'].filter((p) => fs.existsSync(p));
  const script = `${hide.map((p) => `mount --bind /dev/null ${p}`).join(' && ')} && exec "$@"`;
  await withAgent({ wrap: ['unshare', '-m', '--propagation', 'private', '--', 'sh', '-c', script, 'sh'], args: ['--os-root', makeTree().root] }, async (c) => {
    const x = await caps(c);
    for (const [cmd, tool] of [['guest-set-user-password', 'chpasswd'], ['guest-fstrim', 'fstrim'], ['phoenix-add-ip', 'ip'], ['phoenix-list-ips', 'ip']]) {
      const r = of(x, cmd).reasons?.find((k) => k.kind === 'missing-tool');
      assert.ok(r, `${cmd}: ${JSON.stringify(of(x, cmd))}`);
      assert.match(r!.desc, new RegExp(`^${tool} is not installed`));
    }
    // And the command itself fails as said.
    assert.match(JSON.stringify((await c.request('guest-fstrim')).return), /cannot find 'fstrim' program/);
  });
});

S('frozen: everything but the freeze-safe commands, until thawed', async () => {
  const l = loopFs();
  try {
    await withAgent({ args: ['--os-root', makeTree().root] }, async (c) => {
      assert.is((await c.request('guest-fsfreeze-freeze-list', { mountpoints: [l.mnt] })).return, 1);
      const x = await caps(c);
      assert.is(x.frozen, true);
      assert.equal(kinds(x, 'guest-set-user-password'), ['frozen']);
      assert.equal(of(x, 'guest-fsfreeze-thaw'), { name: 'guest-fsfreeze-thaw', enabled: true });
      // Itself freeze-safe: the panel asks exactly while frozen.
      assert.equal(of(x, 'phoenix-capabilities'), { name: 'phoenix-capabilities', enabled: true });
      assert.is((await c.request('guest-fsfreeze-thaw')).return, 1);
      assert.is((await caps(c)).frozen, false);
    });
  } finally { l.cleanup(); }
});

S('system tree read-only, then full; journal read-only', async () => {
  const t = tinyFs(256);
  const state = tinyFs(1024);
  try {
    fs.mkdirSync(path.join(t.dir, 'etc'));
    fs.writeFileSync(path.join(t.dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
    // The journal's directory exists (a state directory the agent used before it went read-only).
    fs.mkdirSync(path.join(state.dir, 'journal'), { mode: 0o700 });
    t.readOnly(true);
    state.readOnly(true);
    await withAgent({ args: ['--os-root', t.dir, '--state-dir', state.dir] }, async (c) => {
      const x = await caps(c);
      assert.is(x.root, 'read-only');
      assert.ok(kinds(x, 'guest-set-user-password').includes('read-only-root'));
      assert.ok(kinds(x, 'phoenix-set-hostname').includes('read-only-root'));
      assert.match(of(x, 'phoenix-add-ip').reasons!.find((r) => r.kind === 'read-only-root')!.desc, /read-only.*"persist": false/);
      // The journal: keyed mutating commands are refused, reads are not touched.
      assert.ok(kinds(x, 'guest-set-user-password').includes('journal'));
      assert.match(of(x, 'guest-set-user-password').reasons!.find((r) => r.kind === 'journal')!.desc, /journal is read-only/, JSON.stringify(x.journal));
      assert.equal(of(x, 'guest-get-osinfo'), { name: 'guest-get-osinfo', enabled: true });
      // The login doctor says it too.
      const d = (await c.request('phoenix-diagnose-login', { username: 'root' }, 30_000)).return;
      assert.match(d.findings.find((f: { check: string }) => f.check === 'root-fs').desc, /^the root file system is read-only/);
    });
    t.readOnly(false);
    state.readOnly(false);
    t.fill();
    await withAgent({ args: ['--os-root', t.dir, '--state-dir', state.dir] }, async (c) => {
      const x = await caps(c);
      assert.is(x.root, 'full');
      assert.equal(kinds(x, 'guest-set-user-password'), ['no-space']);
      assert.is(x.journal, null);
      const d = (await c.request('phoenix-diagnose-login', { username: 'root' }, 30_000)).return;
      assert.match(d.findings.find((f: { check: string }) => f.check === 'root-fs').desc, /^the root file system is full/);
    });
    t.unfill();
    await withAgent({ args: ['--os-root', t.dir, '--state-dir', state.dir] }, async (c) => {
      assert.is((await caps(c)).root, 'writable');
    });
  } finally { t.cleanup(); state.cleanup(); }
});

S('cheap: figures for one call (printed, not asserted)', async () => {
  await withAgent({ args: ['--os-root', makeTree().root] }, async (c) => {
    await caps(c);
    const n = 50, t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await caps(c);
    console.log(`  phoenix-capabilities: ${(Number(process.hrtime.bigint() - t0) / 1e6 / n).toFixed(2)} ms per call (round trip, ${n} calls)`);
  });
});

S.run();

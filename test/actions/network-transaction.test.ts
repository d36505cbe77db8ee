// phoenix-apply-network / phoenix-confirm-network with the agent in a network namespace whose eth0
// is a veth to a second namespace holding the gateway (192.0.2.1), and a temporary ifupdown root
// for the configuration files: real iproute2, real kills of the worker and the supervisor, a real
// agent restarted on the same state directory. Asserted with `ip -j` and on the files.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import { Agent, startAgent, tempDir, waitFor } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';
import { ifupdownTree, Tree } from '../helpers/root-tree';

interface Net { ns: string; peer: string; ip(...a: string[]): string; state(): { addrs: string[]; routes: string[] }; remove(): void }

/** NS has eth0 = 192.0.2.10/24 with a default route via 192.0.2.1, which lives in PEER. */
function makeNet(): Net {
  const id = crypto.randomBytes(3).toString('hex');
  const ns = `pga-${id}`, peer = `pga-${id}-gw`;
  execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['netns', 'add', peer]);
  const ip = (...a: string[]) => execFileSync('ip', ['-n', ns, ...a], { encoding: 'utf8' });
  const pip = (...a: string[]) => execFileSync('ip', ['-n', peer, ...a], { encoding: 'utf8' });
  ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'gw0', 'netns', peer);
  ip('link', 'set', 'lo', 'up'); ip('link', 'set', 'eth0', 'up');
  pip('link', 'set', 'gw0', 'up'); pip('addr', 'add', '192.0.2.1/24', 'dev', 'gw0');
  ip('addr', 'add', '192.0.2.10/24', 'dev', 'eth0');
  ip('route', 'add', 'default', 'via', '192.0.2.1', 'dev', 'eth0');
  return {
    ns, peer, ip,
    state() {
      const a = JSON.parse(ip('-j', 'addr', 'show', 'dev', 'eth0')) as Array<{ addr_info: Array<{ local: string; prefixlen: number; scope: string }> }>;
      const r = JSON.parse(ip('-j', 'route', 'show', 'dev', 'eth0')) as Array<{ dst: string; gateway?: string; protocol?: string }>;
      return {
        addrs: a[0].addr_info.filter((x) => x.scope !== 'link').map((x) => `${x.local}/${x.prefixlen}`).sort(),
        routes: r.filter((x) => x.protocol !== 'kernel').map((x) => `${x.dst}${x.gateway ? ` via ${x.gateway}` : ''}`).sort(),
      };
    },
    remove() { for (const n of [ns, peer]) { try { execFileSync('ip', ['netns', 'del', n]); } catch { /* gone */ } } },
  };
}

/** Every file under /etc/network with its text. */
function files(t: Tree): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => { for (const n of fs.readdirSync(t.file(d))) { const p = `${d}/${n}`; if (fs.statSync(t.file(p)).isDirectory()) walk(p); else out[p] = t.read(p); } };
  walk('/etc/network');
  return out;
}

interface Ctx { net: Net; tree: Tree; dir: string; agent: Agent; c: QgaClient }

async function start(ctx: Ctx): Promise<void> {
  ctx.agent = startAgent({ dir: ctx.dir, interval: 0.5, hangTimeout: 10, wrap: ['ip', 'netns', 'exec', ctx.net.ns], args: ['--os-root', ctx.tree.root] });
  await ctx.agent.waitReady(10_000);
  ctx.c = await QgaClient.connect(ctx.agent.sock);
}

const BEFORE = { addrs: ['192.0.2.10/24'], routes: ['default via 192.0.2.1'] };
/** A change that cuts the server off: another subnet, another gateway. */
const CUT = { interface: 'eth0', addresses: ['198.51.100.5/24'], gateway: '198.51.100.1', 'confirm-within': 10, persist: false };
const CUT_STATE = { addrs: ['198.51.100.5/24'], routes: ['default via 198.51.100.1'] };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for the revert and says when it came, in seconds after the apply reply. */
async function revertedAfter(net: Net, t0: number): Promise<number> {
  await waitFor('revert', () => JSON.stringify(net.state()) === JSON.stringify(BEFORE), 25_000, 50);
  const s = (Date.now() - t0) / 1000;
  console.log(`  reverted ${s} s after the reference point`);
  return s;
}

/**
 * Not before the deadline, counted from when the apply was sent (the agent arms it before it
 * replies, and a reply can be slow under load), and at most 2.5 s late, counted from the reply.
 */
function assertOnTime(s: number, t0: number, sent: number): void {
  const fromSent = s + (t0 - sent) / 1000;
  assert.ok(fromSent >= 9.9 && s <= 12.5, `reverted ${s} s after the apply reply, ${fromSent} s after it was sent (deadline 10 s)`);
}

/** The status once the revert is recorded (the live state is back a moment before the record). */
async function settled(c: QgaClient) {
  return waitFor('the revert recorded', async () => { const x = (await c.request('phoenix-network-status')).return; return x.pending === null && x; }, 5000, 50);
}

const S = suite<Ctx>('network transactions');
S.before.each(async (ctx) => {
  ctx.net = makeNet();
  ctx.tree = ifupdownTree();
  ctx.dir = tempDir();
  await start(ctx);
});
S.after.each(async (ctx) => {
  ctx.c?.close();
  await ctx.agent.stop();
  ctx.net.remove();
  fs.rmSync(ctx.dir, { recursive: true, force: true });
  fs.rmSync(ctx.tree.root, { recursive: true, force: true });
});

S('not confirmed: the agent restores the live state at the deadline, not before, and says what it reverted', async ({ net, tree, c }) => {
  const filesBefore = files(tree);
  assert.equal(net.state(), BEFORE);
  const sent = Date.now();
  const r = await c.request('phoenix-apply-network', CUT);
  const t0 = Date.now();
  assert.ok(r.return, JSON.stringify(r));
  assert.equal(net.state(), CUT_STATE, 'applied live');
  await sleep(8000);
  assert.equal(net.state(), CUT_STATE, 'still applied 2 s before the deadline');
  const s = await revertedAfter(net, t0);
  assertOnTime(s, t0, sent);
  assert.equal(files(tree), filesBefore, 'the configuration files are as they were');
  const st = await settled(c);
  assert.is(st.history[0].id, r.return.id);
  assert.is(st.history[0].state, 'reverted');
  assert.match(st.history[0].reverted.reason, /not confirmed within 10 s/);
  assert.equal(st.history[0].reverted.live.addresses, { added: ['192.0.2.10/24'], removed: ['198.51.100.5/24'] });
  const late = await c.request('phoenix-confirm-network', { id: r.return.id });
  assert.match(late.error.desc, new RegExp(`network transaction ${r.return.id} was reverted .*not confirmed within 10 s`));
});

S('confirmed: stays live after the deadline, is written to the configuration, and drift from it is reported after a restart', async (ctx) => {
  const { net, tree, c } = ctx;
  const r = await c.request('phoenix-apply-network', { interface: 'eth0', addresses: ['192.0.2.10/24', '203.0.113.7/24'], 'confirm-within': 10, check: { gateway: true }, id: 'panel-tx-1' });
  assert.is(r.return.id, 'panel-tx-1');
  assert.not.ok(fs.existsSync(tree.file('/etc/network/interfaces.d/phoenix-ga')), 'nothing persisted before confirmation');
  const ok = await c.request('phoenix-confirm-network', { id: 'panel-tx-1' });
  assert.is(ok.return.state, 'confirmed', JSON.stringify(ok));
  assert.equal(ok.return.confirmed.persisted, [{ renderer: 'ifupdown', file: '/etc/network/interfaces.d/phoenix-ga', action: 'added' }]);
  assert.match(tree.read('/etc/network/interfaces.d/phoenix-ga'), /iface eth0 inet static\n\taddress 203\.0\.113\.7\/24\n/);
  await sleep(11_000);
  assert.equal(net.state(), { addrs: ['192.0.2.10/24', '203.0.113.7/24'], routes: BEFORE.routes }, 'still there after the deadline');
  assert.equal((await c.request('phoenix-confirm-network', { id: 'panel-tx-1' })).return.state, 'confirmed', 'confirming again returns it');
  let row = (await c.request('phoenix-list-ips', { interface: 'eth0' })).return[0];
  assert.equal(row.panel_drift, { missing: [], unexpected: [] });
  // Changed behind the panel's back, then the agent restarts: the drift is reported.
  ctx.c.close();
  await ctx.agent.stop();
  net.ip('addr', 'del', '203.0.113.7/24', 'dev', 'eth0');
  net.ip('addr', 'add', '192.0.2.77/24', 'dev', 'eth0');
  await start(ctx);
  row = (await ctx.c.request('phoenix-list-ips', { interface: 'eth0' })).return[0];
  assert.equal(row.panel_drift, { missing: ['203.0.113.7/24'], unexpected: ['192.0.2.77/24'] });
});

S('worker killed with SIGKILL between apply and deadline: the next worker reverts on time', async ({ net, agent, c }) => {
  const sent = Date.now();
  const r = await c.request('phoenix-apply-network', CUT);
  const t0 = Date.now();
  assert.ok(r.return, JSON.stringify(r));
  const pid = agent.workerPid()!;
  process.kill(pid, 'SIGKILL');
  await agent.waitFor('a new worker', () => { const s = agent.state(); return s?.worker.state === 'ready' && s.worker.pid !== pid; }, 10_000);
  assert.equal(net.state(), CUT_STATE, 'the new worker does not revert before the deadline');
  const s = await revertedAfter(net, t0);
  assertOnTime(s, t0, sent);
});

S('supervisor killed with SIGKILL, agent started again before the deadline: the timer is armed again', async (ctx) => {
  const sent = Date.now();
  const r = await ctx.c.request('phoenix-apply-network', CUT);
  const t0 = Date.now();
  assert.ok(r.return, JSON.stringify(r));
  ctx.agent.proc.kill('SIGKILL');
  await new Promise((res) => ctx.agent.proc.once('exit', res));
  await start(ctx);
  assert.equal(ctx.net.state(), CUT_STATE, 'not reverted at start before the deadline');
  const s = await revertedAfter(ctx.net, t0);
  assertOnTime(s, t0, sent);
});

S('supervisor killed with SIGKILL, agent started again after the deadline: reverted at once', async (ctx) => {
  const r = await ctx.c.request('phoenix-apply-network', CUT);
  assert.ok(r.return, JSON.stringify(r));
  ctx.agent.proc.kill('SIGKILL');
  await new Promise((res) => ctx.agent.proc.once('exit', res));
  await sleep(11_000);
  assert.equal(ctx.net.state(), CUT_STATE, 'nobody reverted while the agent was down');
  const t1 = Date.now();
  await start(ctx);
  const s = await revertedAfter(ctx.net, t1);
  assert.ok(s <= 5, `reverted ${s} s after the restart`);
  const st = await settled(ctx.c);
  assert.match(st.history[0].reverted.reason, /not confirmed within 10 s/);
});

S('confirmation refused while the check target does not answer; the transaction stays open and reverts', async ({ net, c }) => {
  const r = await c.request('phoenix-apply-network', { interface: 'eth0', addresses: ['192.0.2.10/24'], 'confirm-within': 10, persist: false });
  const t0 = Date.now();
  const id = r.return.id;
  const t1 = Date.now();
  const no = await c.request('phoenix-confirm-network', { id, check: { target: '192.0.2.99' } }, 10_000);
  console.log(`  unreachable check answered in ${Date.now() - t1} ms`);
  assert.match(no.error.desc, /not confirmed: 192\.0\.2\.99 did not answer .*stays live until its deadline/);
  assert.is((await c.request('phoenix-network-status')).return.pending.id, id, 'still open');
  const unknown = await c.request('phoenix-confirm-network', { id: 'no-such-tx' });
  assert.match(unknown.error.desc, new RegExp(`there is no network transaction 'no-such-tx' \\(the open one is ${id}\\)`));
  // The gateway answers: a check of it passes (and the second apply is refused meanwhile).
  const second = await c.request('phoenix-apply-network', CUT);
  assert.match(second.error.desc, new RegExp(`network transaction ${id} on eth0 is not confirmed yet`));
  const add = await c.request('phoenix-add-ip', { interface: 'eth0', address: '192.0.2.50', prefix: 24, persist: false });
  assert.match(add.error.desc, /eth0 has an open network transaction/);
  const yes = await c.request('phoenix-confirm-network', { id, check: { gateway: true } }, 10_000);
  assert.is(yes.return?.state, 'confirmed', JSON.stringify(yes));
  assert.ok(Date.now() - t0 < 10_000);
  assert.equal(net.state(), BEFORE);
});

S('invalid input is refused before anything changes', async ({ net, tree, c }) => {
  const filesBefore = files(tree);
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ addresses: ['198.51.100.5'] }, /'addresses\[0\]' must be ADDRESS\/PREFIX/],
    [{ addresses: ['010.0.0.1/24'] }, /'address' is not an IPv4/],
    [{ addresses: ['198.51.100.5/24', '198.51.100.5/25'] }, /names 198\.51\.100\.5 twice/],
    [{ gateway: '203.0.113.1' }, /'gateway' 203\.0\.113\.1 is not on a subnet of the new addresses/],
    [{ gateway: 'fe80::1%eth0' }, /'gateway' is not an IPv4 address/],
    [{ routes: [{ to: '10.1.2.3/16', via: '198.51.100.1' }] }, /host bits set beyond \/16/],
    [{ routes: [{ to: '10.1.0.0/16', via: '2001:db8::1' }] }, /'routes\[0\]\.via' is IPv6 and the destination IPv4/],
    [{ routes: [{ to: 'default', via: '198.51.100.1' }] }, /'gateway' sets that default route too/],
    [{ 'confirm-within': 5 }, /'confirm-within' is out of range \(10 to 3600\)/],
    [{ 'confirm-within': 3601 }, /'confirm-within' is out of range/],
    [{ interface: 'nosuch0' }, /there is no interface 'nosuch0'/],
    [{ interface: 'eth0;reboot' }, /not an interface name/],
    [{ check: { target: 'gateway' } }, /'check\.target' is not an IPv4/],
    [{ id: '../x' }, /'id' has an invalid format/],
    [{ gateway: undefined }, /the route default via 192\.0\.2\.1 of eth0 would lose its gateway's subnet/],
  ];
  for (const [over, want] of cases) {
    const args = JSON.parse(JSON.stringify({ ...CUT, ...over }));
    const r = await c.request('phoenix-apply-network', args);
    assert.ok(r.error, JSON.stringify(over));
    assert.match(r.error.desc, want, JSON.stringify(over));
  }
  assert.equal(net.state(), BEFORE);
  assert.equal(files(tree), filesBefore);
  assert.is((await c.request('phoenix-network-status')).return.pending, null);
});


S('persisting refused at confirmation: the files written so far are put back, the confirmation is refused, the deadline holds', async ({ net, tree, c }) => {
  // The customer's own stanza has 192.0.2.10: the agent may add beside it, never edit it.
  tree.write('/etc/network/interfaces', 'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n\taddress 192.0.2.10/24\n');
  net.ip('route', 'del', 'default');
  const filesBefore = files(tree);
  const sent = Date.now();
  const r = await c.request('phoenix-apply-network', { interface: 'eth0', addresses: ['192.0.2.20/24'], 'confirm-within': 10 });
  const t0 = Date.now();
  assert.ok(r.return, JSON.stringify(r));
  const no = await c.request('phoenix-confirm-network', { id: r.return.id });
  assert.match(no.error.desc, /not confirmed: persisting failed: ifupdown: 192\.0\.2\.10\/24 on eth0 is configured in \/etc\/network\/interfaces .*refusing to edit it.*; restored \/etc\/network\/interfaces\.d\/phoenix-ga; the change stays live until its deadline/);
  assert.equal(files(tree), filesBefore, 'the file written for 192.0.2.20 was removed again');
  assert.is((await c.request('phoenix-network-status')).return.pending.state, 'pending');
  await waitFor('revert', () => JSON.stringify(net.state().addrs) === '["192.0.2.10/24"]', 25_000, 50);
  const s = (Date.now() - t0) / 1000;
  assertOnTime(s, t0, sent);
});

S('a reboot before confirmation: the next start records the transaction as reverted by the reboot and changes nothing', async (ctx) => {
  const r = await ctx.c.request('phoenix-apply-network', CUT);
  assert.ok(r.return, JSON.stringify(r));
  ctx.c.close();
  await ctx.agent.stop();
  // A reboot cannot run here. What it does is imitated: the boot id changes, and the interface
  // comes up from the configuration files, which still hold the previous state.
  const file = `${ctx.dir}/state/network/transactions.json`;
  const data = JSON.parse(fs.readFileSync(file, 'utf8'));
  data.pending.deadline.boot = 'another-boot';
  fs.writeFileSync(file, JSON.stringify(data));
  ctx.net.ip('addr', 'flush', 'dev', 'eth0');
  ctx.net.ip('addr', 'add', '192.0.2.10/24', 'dev', 'eth0');
  ctx.net.ip('route', 'add', 'default', 'via', '192.0.2.1');
  await start(ctx);
  const st = await settled(ctx.c);
  assert.is(st.history[0].state, 'reverted');
  assert.match(st.history[0].reverted.reason, /rebooted before confirmation/);
  assert.is(st.history[0].reverted.live, null);
  assert.equal(ctx.net.state(), BEFORE);
});

S.run();

// guest-network-get-interfaces in a network namespace of its own, with software devices of several
// kinds, sent to Debian's qemu-ga and to phoenix-ga running in that namespace: the same
// interfaces, hardware addresses and IP addresses, also after an address changes under them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import { Agent, startAgent } from '../helpers/agent';
import { makeNetNs, NetNs } from '../helpers/netns';
import { QgaClient } from '../helpers/qga-client';
import { QemuGa, startQemuGa } from '../helpers/qemu-ga';

const S = suite<{ ns: NetNs; qga: QemuGa; agent: Agent; q: QgaClient; p: QgaClient }>('interfaces vs qemu-ga, in a network namespace');

S.before(async (ctx) => {
  ctx.ns = makeNetNs();
  const { ip } = ctx.ns;
  ip('addr', 'add', '192.0.2.10/24', 'dev', 'eth0');
  ip('route', 'add', 'default', 'via', '192.0.2.1');
  // A bridge with an address, a macvlan on eth0, a tun device with no process behind it (no
  // carrier: listed, no addresses), and a veth pair that is down.
  ip('link', 'add', 'br9', 'type', 'bridge');
  ip('link', 'set', 'br9', 'up');
  ip('addr', 'add', '198.51.100.9/24', 'dev', 'br9');
  ip('link', 'add', 'mv0', 'link', 'eth0', 'type', 'macvlan');
  ip('link', 'set', 'mv0', 'up');
  ip('addr', 'add', '203.0.113.7/24', 'dev', 'mv0');
  ip('tuntap', 'add', 'tun7', 'mode', 'tun');
  ip('link', 'set', 'tun7', 'up');
  ip('link', 'add', 'down0', 'type', 'veth', 'peer', 'name', 'down1');
  const wrap = ['ip', 'netns', 'exec', ctx.ns.name];
  ctx.qga = await startQemuGa([], wrap);
  ctx.agent = startAgent({ wrap });
  await ctx.agent.waitReady();
  ctx.q = await QgaClient.connect(ctx.qga.sock);
  ctx.p = await QgaClient.connect(ctx.agent.sock);
});
S.after(async (ctx) => {
  ctx.q?.close(); ctx.p?.close();
  ctx.qga?.stop();
  await ctx.agent?.stop();
  ctx.ns?.remove();
});

type Iface = { name: string; 'hardware-address'?: string; 'ip-addresses'?: unknown[]; statistics?: unknown };

async function both({ q, p }: { q: QgaClient; p: QgaClient }): Promise<{ qemu: Iface[]; ours: Iface[] }> {
  const [a, b] = await Promise.all([q.request('guest-network-get-interfaces'), p.request('guest-network-get-interfaces')]);
  assert.ok('return' in a && 'return' in b, `${JSON.stringify(a)} / ${JSON.stringify(b)}`);
  return { qemu: a.return, ours: b.return };
}

/** Name, hardware address and addresses, by name: counters move and the order differs by design. */
const facts = (l: Iface[]) => l.map(({ statistics, ...rest }) => rest).sort((x, y) => x.name.localeCompare(y.name));
const mac = (l: Iface[], name: string) => l.find((i) => i.name === name)?.['hardware-address'];

S('the same interfaces, hardware and IP addresses as qemu-ga', async (ctx) => {
  const { qemu, ours } = await both(ctx);
  assert.equal(facts(ours), facts(qemu));
  assert.equal(ours.map((i) => i.name).sort(), ['br9', 'down0', 'down1', 'eth0', 'eth0peer', 'lo', 'mv0', 'tun7']);
  assert.is(ours[0].name, 'eth0', 'the default route\'s interface first');
  assert.is(mac(ours, 'lo'), '00:00:00:00:00:00');
  assert.is(mac(ours, 'tun7'), '00:00:00:00:00:00', 'a device without a hardware address: zeros, as qemu-ga');
});

S('a hardware address changed under the agent is the new one at the next call', async (ctx) => {
  await both(ctx);
  for (const [dev, addr] of [['eth0', '02:00:5e:10:00:01'], ['mv0', '02:00:5e:10:00:02'], ['down0', '02:00:5e:10:00:03']]) ctx.ns.ip('link', 'set', dev, 'address', addr);
  const { qemu, ours } = await both(ctx);
  assert.is(mac(ours, 'eth0'), '02:00:5e:10:00:01');
  assert.is(mac(ours, 'mv0'), '02:00:5e:10:00:02');
  assert.is(mac(ours, 'down0'), '02:00:5e:10:00:03');
  assert.equal(facts(ours), facts(qemu));
});

/** The worker's descriptors open on an attribute of the device NAME (phoenix-ga keeps those of a down one open). */
function heldOn(agent: Agent, name: string): string[] {
  const pid = agent.workerPid()!;
  const out: string[] = [];
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try { const l = fs.readlinkSync(`/proc/${pid}/fd/${fd}`); if (l.includes(`/net/${name}/`)) out.push(l); } catch { /* closed meanwhile */ }
  }
  return out;
}

S('a down interface re-created under its name is read anew; one deleted leaves nothing open', async (ctx) => {
  const { ip } = ctx.ns;
  ip('link', 'add', 'gone0', 'type', 'veth', 'peer', 'name', 'gone1');
  ip('link', 'set', 'gone0', 'address', '02:00:5e:10:00:0a');
  let { qemu, ours } = await both(ctx);
  assert.is(mac(ours, 'gone0'), '02:00:5e:10:00:0a');
  assert.is(heldOn(ctx.agent, 'gone0').length, 2, 'its hardware address and flags');
  // Another device under the same name: a new sysfs node, whose address is read.
  ip('link', 'del', 'gone0');
  ip('link', 'add', 'gone0', 'type', 'bridge');
  ip('link', 'set', 'gone0', 'address', '02:00:5e:10:00:0b');
  ({ qemu, ours } = await both(ctx));
  assert.is(mac(ours, 'gone0'), '02:00:5e:10:00:0b');
  assert.equal(facts(ours), facts(qemu));
  const held = heldOn(ctx.agent, 'gone0');
  assert.is(held.length, 2, held.join(' '));
  assert.ok(held.every((l) => l.includes('/virtual/net/gone0/') && !l.includes('deleted')), held.join(' '));
  ip('link', 'del', 'gone0');
  ({ qemu, ours } = await both(ctx));
  assert.not.ok(ours.some((i) => i.name === 'gone0'));
  assert.equal(facts(ours), facts(qemu));
  assert.equal(heldOn(ctx.agent, 'gone0'), []);
});

S.run();

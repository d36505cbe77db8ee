// The real IP: interfaces classified from sysfs and the primary address, through the real agent
// in a network namespace (veth, bridge, tun, tap, vxlan, macvlan: what can exist in a namespace
// here), the order of guest-network-get-interfaces under each interfaces-order, and this
// machine's own NIC read in place.
//
// Not real here: no hypervisor NIC can be moved into a namespace (this machine's only one carries
// its network), so a veth named eth0 stands in for it and holds the default route; the real
// virtio NIC is classified read-only on the host below, and NICs under a bridge or of other
// hypervisors (Xen vif, Hyper-V netvsc) from a sysfs tree laid out as the kernel lays it out.
// This kernel has no dummy, vlan, bond, wireguard or gre module: docker0 is made as Docker
// makes it (a bridge), and a dummy docker0 is added only where the kernel can.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { interfaceNames } from '../../../agent/facts/network';
import { classifyInterfaces, realInterfaces } from '../../../agent/net/classify';
import { createHost } from '../../../agent/os/host';
import { Agent, startAgent, tempDir } from '../../helpers/agent';
import { QgaClient } from '../../helpers/qga-client';
import { makeTree } from '../../helpers/root-tree';

const F = suite('classification from a sysfs tree (the kernel\'s layout)');

/** One interface directory as the kernel lays it out; DRIVER makes it a device-backed NIC. */
function sysIface(root: string, name: string, o: { index: number; type?: number; iflink?: number; devtype?: string; driver?: string; bus?: string; lower?: string[]; aat?: number }): void {
  const dir = path.join(root, 'sys/devices', o.driver ? `${o.bus ?? 'pci0000:00/0000:00:03.0/virtio0'}/net/${name}` : `virtual/net/${name}`);
  fs.mkdirSync(dir, { recursive: true });
  const w = (f: string, v: string | number) => fs.writeFileSync(path.join(dir, f), `${v}\n`);
  w('type', o.type ?? 1); w('ifindex', o.index); w('iflink', o.iflink ?? o.index); w('flags', '0x1003'); w('addr_assign_type', o.aat ?? (o.driver ? 0 : 1));
  w('uevent', `INTERFACE=${name}\nIFINDEX=${o.index}\n${o.devtype ? `DEVTYPE=${o.devtype}\n` : ''}`);
  if (o.driver) {
    const dev = path.dirname(path.dirname(dir));
    const drv = path.join(root, 'sys/bus/x/drivers', o.driver);
    fs.mkdirSync(drv, { recursive: true });
    fs.symlinkSync(path.relative(dev, drv), path.join(dev, 'driver'));
    fs.symlinkSync(path.relative(dir, dev), path.join(dir, 'device'));
  }
  // The kernel links both ways: lower_X in the upper device, upper_Y in the lower one.
  for (const l of o.lower ?? []) {
    fs.symlinkSync(`../${l}`, path.join(dir, `lower_${l}`));
    fs.symlinkSync(`../${name}`, path.join(fs.realpathSync(path.join(root, 'sys/class/net', l)), `upper_${name}`));
  }
  fs.mkdirSync(path.join(root, 'sys/class/net'), { recursive: true });
  fs.symlinkSync(path.relative(path.join(root, 'sys/class/net'), dir), path.join(root, 'sys/class/net', name));
}

F('a bridge over the virtio NIC is real; Xen and Hyper-V NICs are hypervisor NICs; names are not trusted', () => {
  const root = tempDir('sysfs-');
  try {
    sysIface(root, 'ens3', { index: 2, driver: 'virtio_net' });
    sysIface(root, 'br0', { index: 3, devtype: 'bridge', lower: ['ens3'] });
    sysIface(root, 'eth1', { index: 4, driver: 'vif', bus: 'vif-0' });
    sysIface(root, 'eth2', { index: 5, driver: 'hv_netvsc', bus: 'LNXSYSTM:00/VMBUS:00/0000' });
    // Named as a NIC, but a bridge with no NIC under it.
    sysIface(root, 'eth9', { index: 6, devtype: 'bridge', lower: [] });
    sysIface(root, 'bnx', { index: 7, driver: 'bnx2', bus: 'pci0000:00/0000:00:05.0' });
    // Stacked twice: a VLAN on a bond on the NIC; a bridge of veths only.
    sysIface(root, 'bond0', { index: 8, devtype: 'bond', lower: ['bnx'] });
    sysIface(root, 'bond0.10', { index: 9, devtype: 'vlan', lower: ['bond0'] });
    sysIface(root, 'veth1', { index: 10, iflink: 11 });
    sysIface(root, 'docker0', { index: 12, devtype: 'bridge', lower: ['veth1'] });
    const c = classifyInterfaces(createHost(root), ['ens3', 'br0', 'eth1', 'eth2', 'eth9', 'bnx', 'bond0', 'bond0.10', 'veth1', 'docker0']);
    const pick = (n: string) => { const x = c.get(n)!; return [x.kind, x.real, x.driver, x.hypervisor, x.mac]; };
    assert.equal(pick('ens3'), ['nic', true, 'virtio_net', true, 'permanent']);
    assert.equal(c.get('ens3')!.device, '/sys/devices/pci0000:00/0000:00:03.0/virtio0');
    assert.equal(pick('br0'), ['bridge', true, null, false, 'random']);
    assert.equal(c.get('br0')!.lower, ['ens3']);
    assert.equal(pick('eth1'), ['nic', true, 'vif', true, 'permanent']);
    assert.equal(pick('eth2'), ['nic', true, 'hv_netvsc', true, 'permanent']);
    assert.equal(pick('eth9'), ['bridge', false, null, false, 'random']);
    // A NIC with a driver no hypervisor presents (bare metal): real, not a hypervisor's.
    assert.equal(pick('bnx'), ['nic', true, 'bnx2', false, 'permanent']);
    assert.equal([pick('bond0')[0], pick('bond0')[1], pick('bond0.10')[0], pick('bond0.10')[1]], ['bond', true, 'vlan', true]);
    assert.equal([pick('veth1')[0], pick('veth1')[1], pick('docker0')[0], pick('docker0')[1]], ['veth', false, 'bridge', false]);
    // The cheap test used for ordering agrees with the full classification.
    assert.equal([...realInterfaces(createHost(root), [...c.keys()])].sort(), [...c.values()].filter((x) => x.real).map((x) => x.name).sort());
  } finally { fs.rmSync(root, { recursive: true, force: true }); }
});

F('ordering a listing asks each device whether it is virtual once, and again when re-created', () => {
  const root = tempDir('sysfs-');
  try {
    sysIface(root, 'eth0', { index: 2, driver: 'virtio_net' });
    sysIface(root, 'docker0', { index: 3, devtype: 'bridge' });
    const host = createHost(root);
    let links = 0;
    const counted = { ...host, link: (p: string) => { links++; return host.link(p); } };
    const real = () => [...realInterfaces(counted, interfaceNames(counted, fs.readdirSync(path.join(root, 'sys/class/net'))))];
    assert.equal(real(), ['eth0']);
    assert.is(links, 2);
    assert.equal(real(), ['eth0']);
    assert.is(links, 2, 'the second listing reads no link');
    // docker0 re-created as a NIC: a new sysfs node, asked again.
    fs.rmSync(path.join(root, 'sys/class/net/docker0'));
    fs.rmSync(path.join(root, 'sys/devices/virtual/net/docker0'), { recursive: true });
    sysIface(root, 'docker0', { index: 4, driver: 'virtio_net', bus: 'pci0000:00/0000:00:04.0/virtio1' });
    assert.equal(real().sort(), ['docker0', 'eth0']);
    assert.is(links, 3);
  } finally { fs.rmSync(root, { recursive: true, force: true }); }
});

F('a NIC beside software devices that cannot forward for it: its directory is not listed; each device is looked at once', () => {
  const root = tempDir('sysfs-');
  try {
    sysIface(root, 'lo', { index: 1, type: 772 });
    sysIface(root, 'eth0', { index: 2, driver: 'virtio_net' });
    // An ifb or tun device: no DEVTYPE, nothing below it.
    sysIface(root, 'ifb0', { index: 3 });
    const host = createHost(root);
    const lists: string[] = [];
    const counted = { ...host, list: (p: string) => { lists.push(p); return host.list(p); } };
    const names = fs.readdirSync(path.join(root, 'sys/class/net'));
    const real = () => [...realInterfaces(counted, interfaceNames(counted, names))];
    assert.equal(real(), ['eth0']);
    assert.not.ok(lists.includes('/sys/class/net/eth0'), lists.join(' '));
    lists.length = 0;
    assert.equal(real(), ['eth0']);
    assert.equal(lists, [], 'the second listing looks at no directory');
    // A bridge appears: it may be stacked on the NIC, whose directory is listed from then on.
    sysIface(root, 'br0', { index: 4, devtype: 'bridge', lower: ['eth0'] });
    names.push('br0');
    assert.equal(real().sort(), ['br0', 'eth0']);
    assert.ok(lists.includes('/sys/class/net/eth0'), lists.join(' '));
  } finally { fs.rmSync(root, { recursive: true, force: true }); }
});

F('a macvlan without a DEVTYPE (older kernels) on the NIC is found by its lower_ link', () => {
  const root = tempDir('sysfs-');
  try {
    sysIface(root, 'eth0', { index: 2, driver: 'virtio_net' });
    sysIface(root, 'mv0', { index: 3, lower: ['eth0'] });
    const host = createHost(root);
    assert.equal([...realInterfaces(host, interfaceNames(host, ['eth0', 'mv0']))].sort(), ['eth0', 'mv0']);
  } finally { fs.rmSync(root, { recursive: true, force: true }); }
});

F.run();

const H = suite('this machine\'s own interfaces, read in place');

H('the virtio NIC of this VM is a real hypervisor NIC; loopback is loopback', () => {
  const host = createHost('/');
  const names = fs.readdirSync('/sys/class/net');
  const c = classifyInterfaces(host, names);
  assert.is(c.get('lo')!.kind, 'loopback');
  assert.is(c.get('lo')!.real, false);
  const virtio = names.filter((n) => fs.existsSync(`/sys/class/net/${n}/device/driver`) && path.basename(fs.readlinkSync(`/sys/class/net/${n}/device/driver`)) === 'virtio_net');
  if (!virtio.length) { console.log('  (no virtio_net NIC on this machine: the host check is skipped)'); return; }
  for (const n of virtio) {
    const x = c.get(n)!;
    assert.equal([x.kind, x.real, x.driver, x.hypervisor], ['nic', true, 'virtio_net', true], n);
    assert.match(x.device ?? '', /^\/sys\/devices\/.*virtio\d+$/);
  }
  assert.equal([...realInterfaces(host, names)].sort(), [...c.values()].filter((x) => x.real).map((x) => x.name).sort());
  // Software devices of this machine (ifb, ...) are never real.
  for (const [n, x] of c) if (fs.realpathSync(`/sys/class/net/${n}`).includes('/virtual/')) assert.is(x.real, false, n);
});

H.run();

interface Ctx { ns: string; ip(...a: string[]): string; dummy: boolean }
const N = suite<Ctx>('in a network namespace, through the agent');

N.before((ctx) => {
  ctx.ns = `pga-cl-${crypto.randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ctx.ns]);
  ctx.ip = (...a: string[]) => execFileSync('ip', ['-n', ctx.ns, ...a], { encoding: 'utf8' });
  const ip = ctx.ip;
  ip('link', 'set', 'lo', 'up');
  // The plumbing first, so the kernel's order (ifindex) puts it before the NIC, as on a server
  // where Docker or a VPN came up before the NIC was renamed or hot-plugged.
  ip('link', 'add', 'docker0', 'type', 'bridge');
  ip('link', 'add', 'veth1a2b', 'type', 'veth', 'peer', 'name', 'veth1a2bp');
  ip('link', 'set', 'veth1a2b', 'master', 'docker0');
  ip('tuntap', 'add', 'dev', 'tun0', 'mode', 'tun');
  ip('tuntap', 'add', 'dev', 'tap0', 'mode', 'tap');
  ip('link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'dstport', '4789');
  ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0peer');
  ip('link', 'add', 'mv0', 'link', 'eth0', 'type', 'macvlan');
  try { ip('link', 'add', 'dummy0', 'type', 'dummy'); ctx.dummy = true; } catch { ctx.dummy = false; }
  for (const n of ['docker0', 'veth1a2b', 'veth1a2bp', 'tun0', 'tap0', 'vx0', 'eth0', 'eth0peer', 'mv0', ...(ctx.dummy ? ['dummy0'] : [])]) ip('link', 'set', n, 'up');
  ip('addr', 'add', '172.17.0.1/16', 'dev', 'docker0');
  ip('addr', 'add', '10.8.0.1/24', 'dev', 'tun0');
  ip('addr', 'add', '10.9.0.1/24', 'dev', 'tap0');
  ip('addr', 'add', '10.10.0.1/24', 'dev', 'vx0');
  ip('addr', 'add', '10.11.0.1/24', 'dev', 'mv0');
  if (ctx.dummy) ip('addr', 'add', '10.12.0.1/24', 'dev', 'dummy0');
  ip('addr', 'add', '198.51.100.7/24', 'dev', 'eth0');
  ip('addr', 'add', '203.0.113.10/24', 'dev', 'eth0');
  ip('-6', 'addr', 'add', '2001:db8:1::10/64', 'dev', 'eth0', 'nodad');
  // Beside the default route that counts: one with a higher metric on another interface, and an
  // unreachable one with a lower metric, which carries nothing.
  ip('route', 'add', 'default', 'via', '203.0.113.1', 'dev', 'eth0', 'metric', '100');
  ip('route', 'add', 'default', 'via', '172.17.0.254', 'dev', 'docker0', 'metric', '500');
  ip('route', 'add', 'unreachable', 'default', 'metric', '50');
  ip('-6', 'route', 'add', 'default', 'via', '2001:db8:1::1', 'dev', 'eth0');
  ip('-6', 'route', 'add', 'default', 'via', 'fe80::1', 'dev', 'docker0', 'metric', '2000');
});
N.after((ctx) => { try { execFileSync('ip', ['netns', 'del', ctx.ns]); } catch { /* gone */ } });

async function withAgent<T>(ctx: Ctx, order: string | null, f: (c: QgaClient) => Promise<T>): Promise<T> {
  const dir = tempDir();
  const args = ['--os-root', makeTree().root];
  if (order) {
    fs.writeFileSync(path.join(dir, 'agent.conf'), `interfaces-order = ${order}\n`, { mode: 0o600 });
    args.push('--config', path.join(dir, 'agent.conf'));
  }
  const agent: Agent = startAgent({ dir, interval: 0.5, hangTimeout: 10, wrap: ['ip', 'netns', 'exec', ctx.ns], args });
  try {
    await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    try { return await f(c); } finally { c.close(); }
  } finally { await agent.stop(); }
}

N('phoenix-list-ips: each kind as sysfs tells it, and the primary addresses on the default route\'s interface', async (ctx) => {
  const rows = await withAgent(ctx, null, async (c) => (await c.request('phoenix-list-ips', {})).return as Array<Record<string, unknown>>);
  const by = new Map(rows.map((r) => [r.interface as string, r]));
  const kinds = Object.fromEntries(rows.map((r) => [r.interface, [r.kind, r.real, r.driver]]));
  assert.equal(kinds, {
    lo: ['loopback', false, null], docker0: ['bridge', false, null], tun0: ['tun', false, null], tap0: ['tap', false, null],
    vx0: ['vxlan', false, null], eth0: ['veth', false, null], mv0: ['macvlan', false, null],
    // Listed for their link-local address: both ends of each veth pair.
    veth1a2b: ['veth', false, null], veth1a2bp: ['veth', false, null], eth0peer: ['veth', false, null], ...(ctx.dummy ? { dummy0: ['virtual', false, null] } : {}),
  });
  // The primary IPv4 is the one of the gateway's subnet, not the first added; IPv6 the global one.
  assert.equal(by.get('eth0')!.primary, ['203.0.113.10/24', '2001:db8:1::10/64']);
  assert.equal(by.get('eth0')!.live, ['198.51.100.7/24', '203.0.113.10/24', '2001:db8:1::10/64']);
  for (const r of rows) if (r.interface !== 'eth0') assert.equal(r.primary, [], r.interface as string);
  // The fields it had keep their meaning.
  for (const r of rows) for (const k of ['interface', 'live', 'renderer', 'persisted']) assert.ok(k in r, `${r.interface}: ${k}`);
});

const names = (l: unknown) => (l as Array<{ name: string }>).map((i) => i.name);
const firstV4 = (l: unknown) => {
  for (const i of l as Array<{ name: string; 'ip-addresses'?: Array<{ 'ip-address-type': string; 'ip-address': string }> }>) {
    if (i.name === 'lo') continue;
    const a = (i['ip-addresses'] ?? []).find((x) => x['ip-address-type'] === 'ipv4');
    if (a) return a['ip-address'];
  }
  return null;
};

N('guest-network-get-interfaces: as-is is the kernel\'s order, where a panel taking the first address gets Docker\'s', async (ctx) => {
  const l = await withAgent(ctx, 'as-is', async (c) => (await c.request('guest-network-get-interfaces')).return);
  const order = names(l);
  assert.is(order[0], 'lo');
  assert.ok(order.indexOf('docker0') < order.indexOf('eth0'));
  assert.is(firstV4(l), '172.17.0.1');
});

N('real-first (the default): the default route\'s interface first, the rest in the kernel\'s order, nothing left out', async (ctx) => {
  const asIs = await withAgent(ctx, 'as-is', async (c) => (await c.request('guest-network-get-interfaces')).return);
  const l = await withAgent(ctx, null, async (c) => (await c.request('guest-network-get-interfaces')).return);
  assert.equal(names(l), ['eth0', ...names(asIs).filter((n) => n !== 'eth0')]);
  assert.is(firstV4(l), '198.51.100.7', 'the first address of the primary interface');
  // Same objects, qemu-ga's shape: only the order changed.
  const byName = (x: unknown) => Object.fromEntries((x as Array<{ name: string; statistics?: unknown }>).map(({ statistics, ...r }) => [r.name, r]));
  assert.equal(byName(l), byName(asIs));
  const explicit = await withAgent(ctx, 'real-first', async (c) => (await c.request('guest-network-get-interfaces')).return);
  assert.equal(names(explicit), names(l));
});

N('real-only: only the default route\'s interface (no NIC can exist here), loopback and plumbing left out', async (ctx) => {
  const l = await withAgent(ctx, 'real-only', async (c) => (await c.request('guest-network-get-interfaces')).return);
  assert.equal(names(l), ['eth0']);
});

N.run();

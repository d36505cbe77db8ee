// An address added through the agent survives a real boot: Debian with systemd-networkd
// (systemd in nspawn) and with ifupdown (sysvinit in nspawn), each in a network namespace with a
// veth eth0. Between the boots the namespace's addresses and routes are flushed, so what comes
// back after the boot was brought up by the system's own network configuration from what the agent
// wrote. Likewise a confirmed network transaction's gateway and routes with systemd-networkd.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, tempDir, waitFor } from '../helpers/agent';
import { makeNetNs, type NetNs } from '../helpers/netns';
import { QgaClient } from '../helpers/qga-client';
import { boot, Container, prepareRoot, Root } from './lib/nspawn';
import { ensureTree } from './lib/rootfs';

const CLI = path.join(ROOT, 'dist/phoenix-ga');

function install(root: Root): void {
  const r = spawnSync(CLI, ['install', '--root', root.merged], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stdout + r.stderr);
  const cfg = path.join(root.merged, 'etc/phoenix-ga/phoenix-ga.conf');
  fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace(/^channel = .*$/m, 'channel = unix:/srv/pga/agent.sock'));
}

async function agent(host: string): Promise<QgaClient> {
  return waitFor('agent socket', async () => { try { const c = await QgaClient.connect(path.join(host, 'agent.sock')); return (await c.request('guest-ping')).return ? c : null; } catch { return null; } }, 20_000, 200);
}

/** What the agent is asked to change, and what must be live after the boot (the other checks of it). */
interface Change { act(q: QgaClient, kind: string): Promise<void>; back(ns: NetNs): boolean; check?(q: QgaClient, kind: string): Promise<void> }

const ADDRESSES: Change = {
  async act(q, kind) {
    const r = await q.request('phoenix-add-ip', { interface: 'eth0', address: '203.0.113.5', prefix: 24, 'idempotency-key': `persist-${kind}` });
    assert.is(r.return?.live, 'added', JSON.stringify(r));
    const v6 = await q.request('phoenix-add-ip', { interface: 'eth0', address: '2001:db8:5::5', prefix: 64 });
    assert.is(v6.return?.live, 'added', JSON.stringify(v6));
  },
  back(ns) {
    const a = ns.addrs().map((x) => `${x.address}/${x.prefix}`);
    return a.includes('192.0.2.2/24') && a.includes('203.0.113.5/24') && a.includes('2001:db8:5::5/64');
  },
  async check(q, kind) {
    const list = (await q.request('phoenix-list-ips', { interface: 'eth0' })).return[0];
    assert.equal(list.drift, { live_only: [], persisted_only: [] });
    assert.is(list.renderer, kind === 'systemd' ? 'networkd' : 'ifupdown');
  },
};

async function scenario(kind: 'systemd' | 'sysvinit', setup: (root: Root) => void, afterFirstBoot?: (c: Container) => Promise<void>, change: Change = ADDRESSES) {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const ns = makeNetNs();
  const root = await prepareRoot(await ensureTree(kind), `persist-${kind}`);
  const host = tempDir(`pga-persist-${kind}-`);
  try {
    setup(root);
    install(root);
    // nspawn drops CAP_NET_ADMIN for a namespace it did not make; networkd and ifup need it.
    const opts = { binds: [{ host, guest: '/srv/pga' }], netns: ns.name, capabilities: ['CAP_NET_ADMIN'] };
    let c = await boot(root, opts);
    if (afterFirstBoot) { await afterFirstBoot(c); await c.stop(); ns.ip('addr', 'flush', 'dev', 'eth0'); c = await boot(root, opts); }
    await waitFor('primary address up', () => ns.addrs().some((a) => a.address === '192.0.2.2'), 20_000, 200);
    const q = await agent(host);
    await change.act(q, kind);
    assert.ok(change.back(ns), 'live before the boot');
    q.close();
    await c.stop();
    // Nothing left from before: only the system's network configuration can bring them back.
    ns.ip('addr', 'flush', 'dev', 'eth0');
    // IPv6 routes through a gateway outlive the address that made the gateway reachable.
    ns.ip('-6', 'route', 'flush', 'dev', 'eth0');
    assert.equal(ns.addrs(), []);
    assert.equal(routesOf(ns), []);
    c = await boot(root, opts);
    await waitFor('the change is back after the boot', () => change.back(ns), 30_000, 300)
      .catch((e) => { throw new Error(`${e.message}; addresses: ${JSON.stringify(ns.addrs())}; routes: ${ns.ip('route', 'show', 'dev', 'eth0')}${ns.ip('-6', 'route', 'show', 'dev', 'eth0')}`); });
    const q2 = await agent(host);
    await change.check?.(q2, kind);
    q2.close();
    await c.stop();
  } finally {
    await root.cleanup();
    ns.remove();
  }
}

const S = suite('addresses across a real boot');

function networkdSetup(root: Root): void {
  const w = (p: string, t: string) => { fs.mkdirSync(path.dirname(path.join(root.merged, p)), { recursive: true }); fs.writeFileSync(path.join(root.merged, p), t); };
  w('etc/systemd/network/10-eth0.network', '[Match]\nName=eth0\n\n[Network]\nAddress=192.0.2.2/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n');
  fs.mkdirSync(path.join(root.merged, 'etc/systemd/system/multi-user.target.wants'), { recursive: true });
  fs.symlinkSync('/lib/systemd/system/systemd-networkd.service', path.join(root.merged, 'etc/systemd/system/multi-user.target.wants/systemd-networkd.service'));
}

S('systemd-networkd: the drop-in is applied at boot', async () => {
  await scenario('systemd', networkdSetup);
});

/** The routes of eth0 as "DEST via GW [metric M]", without the kernel's own. */
function routesOf(ns: NetNs): string[] {
  return ['-4', '-6'].flatMap((f) => ns.ip(f, 'route', 'show', 'dev', 'eth0').split('\n'))
    .filter((l) => / via /.test(l)).map((l) => l.replace(/\s+(pref \S+|onlink|proto \S+)/g, '').trim()).sort();
}
const ROUTES = ['10.9.0.0/16 via 192.0.2.9 metric 50', '2001:db8:99::/48 via 2001:db8:5::9 metric 1024', 'default via 192.0.2.1', 'default via 2001:db8:5::1 metric 1024'];

S('systemd-networkd: a confirmed transaction\'s gateway and routes are applied at boot', async () => {
  await scenario('systemd', networkdSetup, undefined, {
    async act(q) {
      const r = await q.request('phoenix-apply-network', {
        interface: 'eth0', addresses: ['192.0.2.2/24', '2001:db8:5::5/64'], gateway: '192.0.2.1', 'confirm-within': 120,
        routes: [{ to: '10.9.0.0/16', via: '192.0.2.9', metric: 50 }, { to: 'default', via: '2001:db8:5::1' }, { to: '2001:db8:99::/48', via: '2001:db8:5::9' }],
      });
      assert.ok(r.return, JSON.stringify(r));
      const ok = await q.request('phoenix-confirm-network', { id: r.return.id });
      assert.is(ok.return?.state, 'confirmed', JSON.stringify(ok));
    },
    back: (ns) => JSON.stringify(routesOf(ns)) === JSON.stringify(ROUTES) && ns.addrs().some((a) => a.address === '2001:db8:5::5'),
  });
});

S('ifupdown: our interfaces.d stanza is brought up by the networking service at boot', async () => {
  const deb = fs.readdirSync(path.join(ROOT, '.local/nettools/debs')).find((f) => f.startsWith('ifupdown_'));
  if (!deb) throw new Error('the ifupdown package is missing: sh test/fixtures/netcfg/nettools.sh (.ci/run does)');
  await scenario('sysvinit', (root) => {
    fs.copyFileSync(path.join(ROOT, '.local/nettools/debs', deb), path.join(root.merged, 'root/ifupdown.deb'));
    fs.mkdirSync(path.join(root.merged, 'etc/network/interfaces.d'), { recursive: true });
    fs.writeFileSync(path.join(root.merged, 'etc/network/interfaces'), 'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n\taddress 192.0.2.2/24\n');
  }, async (c) => {
    // Installed the Debian way, inside the booted system (it registers the networking service).
    const r = await c.exec('dpkg -i /root/ifupdown.deb', { timeoutMs: 120_000 });
    assert.is(r.code, 0, r.stdout + r.stderr);
  });
});

S.run();

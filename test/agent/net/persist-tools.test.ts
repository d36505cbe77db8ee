// Our files as the real programs read them: Debian 12's `netplan generate` renders the merged
// configuration, and ifupdown 0.8's `ifup --no-act` prints the commands it would run. Both come
// from the system, or unpacked by test/fixtures/netcfg/nettools.sh (into $PGA_NETTOOLS or
// .local/nettools); without them these tests are skipped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { createSystem } from '../../../agent/os/system';
import { ifupdown } from '../../../agent/net/persist/ifupdown';
import { netplan } from '../../../agent/net/persist/netplan';
import { type Address } from '../../../agent/net/persist';
import { ROOT } from '../../helpers/agent';
import { makeTree, put, read } from '../../fixtures/netcfg/tree';

const UNPACKED = process.env.PGA_NETTOOLS ?? path.join(ROOT, '.local/nettools');
const find = (...ps: string[]) => ps.flatMap((p) => [p, path.join(UNPACKED, p)]).find((p) => fs.existsSync(p)) ?? null;
const GENERATE = find('/usr/libexec/netplan/generate', '/lib/netplan/generate');
const IFUP = find('/sbin/ifup', '/usr/sbin/ifup');
const LIBS = ['usr/lib/x86_64-linux-gnu', 'usr/lib/aarch64-linux-gnu'].map((d) => path.join(UNPACKED, d)).join(':');
if (!GENERATE || !IFUP) console.log(`persist-tools: ${!GENERATE ? 'netplan generate' : 'ifup'} not found; run test/fixtures/netcfg/nettools.sh to check our files with the real tools`);

const v4: Address = { iface: 'eth0', address: '192.0.2.10', prefix: 24, family: 4 };
const v6: Address = { iface: 'eth0', address: '2001:db8::10', prefix: 64, family: 6 };

function run(tool: string, args: string[]) {
  const r = spawnSync(tool, args, { encoding: 'utf8', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LD_LIBRARY_PATH: LIBS } });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

(GENERATE ? test : test.skip)('netplan generate appends our addresses to cloud-init\'s eth0, DHCP kept, no warning', () => {
  const root = makeTree('ubuntu2404-netplan');
  const cloud = '/etc/netplan/50-cloud-init.yaml';
  put(root, cloud, read(root, cloud).replace('            dhcp4: true\n', '            addresses: [203.0.113.5/24]\n            dhcp4: true\n'), 0o600);
  const sys = createSystem(root);
  netplan.ensure(sys, v4, true);
  netplan.ensure(sys, v6, true);
  const r = run(GENERATE!, ['--root-dir', root]);
  assert.equal([r.code, r.out], [0, '']);
  const network = read(root, '/run/systemd/network/10-netplan-eth0.network');
  assert.match(network, '[Network]\nDHCP=yes\nLinkLocalAddressing=ipv6\nAddress=203.0.113.5/24\nAddress=192.0.2.10/24\nAddress=2001:db8::10/64\n');
  // Taken away again, netplan renders exactly what cloud-init's file alone gives.
  netplan.ensure(sys, v4, false);
  netplan.ensure(sys, v6, false);
  assert.is(run(GENERATE!, ['--root-dir', root]).code, 0);
  assert.match(read(root, '/run/systemd/network/10-netplan-eth0.network'), 'LinkLocalAddressing=ipv6\nAddress=203.0.113.5/24\n\n[DHCP]');
});

(IFUP ? test : test.skip)('ifup brings up our stanzas with the customer\'s DHCP one, SLAAC left on', () => {
  const root = makeTree('debian12-ifupdown');
  const sys = createSystem(root);
  ifupdown.ensure(sys, v4, true);
  ifupdown.ensure(sys, v6, true);
  // ifupdown reads absolute paths; point the source line into the tree.
  const main = path.join(root, 'interfaces.test');
  fs.writeFileSync(main, read(root, '/etc/network/interfaces').replace('source /etc/', `source ${root}/etc/`));
  fs.mkdirSync(path.join(root, 'state'));
  const r = run(IFUP!, ['--no-act', '--verbose', '--no-scripts', '-i', main, '--state-dir', path.join(root, 'state'), '--allow', 'hotplug', 'eth0']);
  assert.match(r.out, 'ip addr add 192.0.2.10/255.255.255.0 broadcast 192.0.2.255');
  assert.match(r.out, 'sysctl -q -e -w net.ipv6.conf.eth0.autoconf=1\n');
  assert.match(r.out, 'ip -6 addr add 2001:db8::10/64  dev eth0');
  assert.is(r.out.split('configuring interface eth0=eth0 (inet)').length, 3, 'our inet stanza and the DHCP one');
  assert.not.match(r.out, /error|unknown|misplaced/i);
});

(GENERATE ? test : test.skip)('netplan generate merges our addresses into definitions whose IDs YAML reads as null, booleans or numbers', () => {
  for (const id of ['null', '~', 'true', 'on', '1.0']) {
    const root = makeTree('ubuntu2404-netplan');
    put(root, '/etc/netplan/70-odd.yaml', `network:\n  version: 2\n  ethernets:\n    ${id}:\n      match: {name: "ens5"}\n      dhcp4: true\n`, 0o600);
    const sys = createSystem(root);
    netplan.ensure(sys, { iface: 'ens5', address: '10.5.0.2', prefix: 24, family: 4 }, true);
    netplan.ensure(sys, { iface: 'ens5', address: '10.5.0.3', prefix: 24, family: 4 }, true);
    const r = run(GENERATE!, ['--root-dir', root]);
    assert.equal([r.code, r.out], [0, ''], id);
    const dir = path.join(root, 'run/systemd/network');
    const ens5 = fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).find((t) => t.includes('Name=ens5'));
    assert.ok(ens5, `${id}: a network file for ens5`);
    assert.match(ens5!, 'DHCP=ipv4', id);
    assert.match(ens5!, 'Address=10.5.0.2/24\nAddress=10.5.0.3/24\n', id);
  }
});

test.run();

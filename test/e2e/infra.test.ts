// Smoke test of the e2e infrastructure itself (test/e2e/lib): cached trees, systemd and sysvinit
// booted by systemd-nspawn on an overlay, and a QEMU TCG VM with a real virtio-serial agent port,
// injected files and slirp UDP to the host. Needs root and the packages .ci/run installs; a
// missing prerequisite fails with the apt-get line that fixes it, it is never skipped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as dgram from 'dgram';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { boot, prepareRoot } from './lib/nspawn';
import { ensureTree } from './lib/rootfs';
import { startVm } from './lib/vm';

function mounted(dir: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

for (const kind of ['systemd', 'sysvinit'] as const) {
  test(`nspawn ${kind}: a file written before boot is seen inside, exec works, reboot keeps changes, stop and cleanup leave nothing`, async () => {
    const tree = await ensureTree(kind);
    const root = await prepareRoot(tree, `infra-${kind}`);
    try {
      fs.writeFileSync(path.join(root.merged, 'etc/e2e-marker'), 'written before boot\n');
      const c = await boot(root);
      assert.is(c.init, kind);
      assert.is((await c.exec('cat /proc/1/comm')).stdout, kind === 'systemd' ? 'systemd\n' : 'init\n');
      if (kind === 'systemd') assert.match((await c.exec('systemctl is-system-running')).stdout, /^(running|degraded)\n$/);
      else assert.match((await c.exec('runlevel')).stdout, /^N [2-5]\n$/);
      assert.is((await c.exec('cat /etc/e2e-marker')).stdout, 'written before boot\n');
      assert.equal(await c.exec('echo out; echo err >&2; exit 7'), { code: 7, stdout: 'out\n', stderr: 'err\n' });
      // A private network: only loopback.
      assert.is((await c.exec("ip -o link | awk -F': ' '{print $2}'")).stdout, 'lo\n');
      try { await c.exec('sleep 5', { timeoutMs: 300 }); assert.unreachable('exec must time out'); } catch (e) { assert.match((e as Error).message, /timed out after 300 ms/); }
      // A background process holding stdout does not hold up exec.
      const t0 = Date.now();
      assert.is((await c.exec('sleep 30 & echo started')).stdout, 'started\n');
      assert.ok(Date.now() - t0 < 3000, `exec with a background process took ${Date.now() - t0} ms`);

      // What the container writes lands in the upper layer, never in the cached tree.
      assert.is((await c.exec('echo inside > /etc/e2e-inside')).code, 0);
      assert.is(fs.readFileSync(path.join(root.upper, 'etc/e2e-inside'), 'utf8'), 'inside\n');
      assert.not.ok(fs.existsSync(path.join(tree, 'etc/e2e-inside')));

      const c2 = await c.reboot();
      assert.is.not(c2.pid1, c.pid1);
      assert.not.ok(alive(c.pid1), 'the first boot\'s init is gone');
      assert.is((await c2.exec('cat /etc/e2e-marker /etc/e2e-inside')).stdout, 'written before boot\ninside\n');
      assert.ok(c2.console().length > 0, 'the console log of the second boot is not empty');

      await c2.stop();
      assert.not.ok(alive(c2.pid1), 'init is gone after stop');
      assert.ok(mounted(root.merged), 'the overlay stays mounted after stop');
      assert.not.ok(fs.existsSync(`/run/systemd/nspawn/propagate/${c2.machine}`));
      try { await c2.exec('true'); assert.unreachable('exec after stop must fail'); } catch (e) { assert.match((e as Error).message, /not running/); }
    } finally {
      await root.cleanup();
    }
    assert.not.ok(mounted(root.merged), 'cleanup unmounts the overlay');
    assert.not.ok(fs.existsSync(root.dir), 'cleanup removes the run directory');
  });
}

test('nspawn: booted into a given network namespace, the container has its veth end', async () => {
  const ns = `e2e-infra-${process.pid}`;
  const root = await prepareRoot(await ensureTree('systemd'), 'infra-netns');
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['link', 'add', `e2eh${process.pid}`, 'type', 'veth', 'peer', 'name', 'e2ec0', 'netns', ns]);
    const c = await boot(root, { netns: ns });
    assert.match((await c.exec("ip -o link | awk -F': ' '{print $2}'")).stdout, /^lo\ne2ec0@/);
    await c.stop();
  } finally {
    await root.cleanup();
    execFileSync('ip', ['netns', 'del', ns]);
  }
});

test('vm: test shell, injected file, the agent port carries bytes both ways, UDP to 10.0.2.2 reaches the host, reboot keeps the disk', async () => {
  const port = 'org.qemu.guest_agent.0';
  const injected = path.join(fs.mkdtempSync('/tmp/pga-e2e-'), 'hello');
  fs.writeFileSync(injected, '#!/bin/sh\necho injected-ok\n');
  const vm = await startVm({ inject: [{ host: injected, guest: '/usr/local/bin/e2e-hello', mode: 0o750 }] });
  const udp = dgram.createSocket('udp4');
  try {
    assert.equal(await vm.shell('echo hello; echo oops >&2; exit 3'), { code: 3, out: 'hello\noops\n' });
    assert.equal(await vm.shell('stat -c %a /usr/local/bin/e2e-hello && e2e-hello'), { code: 0, out: '750\ninjected-ok\n' });
    assert.match((await vm.shell(`readlink -f /dev/virtio-ports/${port}`)).out, /^\/dev\/vport\d+p\d+\n$/);

    // Host connects first: while no host is connected a guest read of the port returns EOF.
    const host = net.connect(vm.agentSock);
    await within(new Promise((r) => host.once('connect', r)), 5000, 'agent socket connect');
    let fromGuest = '';
    const reply = new Promise<void>((resolve) => host.on('data', (d) => { fromGuest += d; if (fromGuest.includes('\n')) resolve(); }));
    const reader = `(timeout 60 head -c 30 /dev/virtio-ports/${port} > /run/port-in; echo "guest-got-$(wc -c < /run/port-in)" > /dev/virtio-ports/${port}) >/dev/null 2>&1 &`;
    assert.is((await vm.shell(reader)).code, 0);
    for (const chunk of ['0123456789', 'abcdefghij', 'ABCDEFGHIJ']) host.write(chunk);
    await within(reply, 30_000, 'the guest\'s reply on the agent port');
    assert.is(fromGuest, 'guest-got-30\n');
    assert.is((await vm.shell('cat /run/port-in')).out, '0123456789abcdefghijABCDEFGHIJ');
    host.destroy();

    assert.match((await vm.shell('ip -4 -o addr show dev eth0')).out, /inet 10\.0\.2\.15\/24/);
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    const datagram = new Promise<string>((r) => udp.once('message', (m) => r(m.toString())));
    assert.is((await vm.shell(`printf heartbeat-from-guest > /dev/udp/10.0.2.2/${udp.address().port}`)).code, 0);
    assert.is(await within(datagram, 10_000, 'the datagram from the guest'), 'heartbeat-from-guest');

    assert.is((await vm.shell('echo kept > /root/e2e-kept && sync')).code, 0);
    const bootId = (await vm.shell('cat /proc/sys/kernel/random/boot_id')).out;
    await vm.reboot();
    assert.is.not((await vm.shell('cat /proc/sys/kernel/random/boot_id')).out, bootId, 'a new boot');
    assert.equal(await vm.shell('cat /root/e2e-kept'), { code: 0, out: 'kept\n' });
  } finally {
    udp.close();
    await vm.stop();
    fs.rmSync(path.dirname(injected), { recursive: true, force: true });
  }
  assert.not.ok(alive(vm.pid), 'QEMU is gone after stop');
  assert.not.ok(fs.existsSync(vm.dir), 'stop removes the run directory');
  assert.match(vm.console(), /e2e-shell: boot/);
});

test.run();

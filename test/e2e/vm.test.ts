// The agent in a real Debian VM (QEMU, TCG), driven the way a hypervisor drives a guest agent:
// phoenix-ga installed into the image by its own installer from outside, a virtio-serial port
// named org.qemu.guest_agent.0 whose host side is a unix socket, and the panel's own client
// (panel/agent-client.ts) on that socket. Heartbeats cross the VM's slirp network to a receiver
// on the host. Every fault below is real: the host socket closed mid-request, the worker killed
// with SIGKILL while replies stream, the supervisor killed (systemd restarts it), the kernel's
// OOM killer, and a reboot through guest-shutdown.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { AgentClient } from '../../panel/agent-client';
import { ROOT, tempDir, waitFor } from '../helpers/agent';
import { startReceiver } from '../helpers/receiver';
import { note, since } from './lib/host';
import { prepareRoot } from './lib/nspawn';
import { ensureTree } from './lib/rootfs';
import { startVm, Vm } from './lib/vm';

const CLI = path.join(ROOT, 'dist/phoenix-ga');
const VM_ID = 'vm-e2e';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function write(root: string, rel: string, text: string, mode = 0o644): void {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text, { mode });
}

/** The guest's network from systemd-networkd (so that an added address is persisted for it), heartbeats to the host. */
function prepareImage(merged: string, port: number, keyFile: string): void {
  // The tree's own e2e-net.service would set the address behind networkd's back.
  fs.rmSync(path.join(merged, 'etc/systemd/system/sysinit.target.wants/e2e-net.service'));
  write(merged, 'etc/systemd/network/10-eth0.network', '[Match]\nName=eth0\n\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n');
  const wants = path.join(merged, 'etc/systemd/system/multi-user.target.wants');
  fs.mkdirSync(wants, { recursive: true });
  fs.symlinkSync('/lib/systemd/system/systemd-networkd.service', path.join(wants, 'systemd-networkd.service'));

  const r = spawnSync(CLI, ['install', '--root', merged], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stdout + r.stderr);
  write(merged, 'etc/phoenix-ga/heartbeat.key', fs.readFileSync(keyFile, 'utf8'), 0o600);
  const cfg = path.join(merged, 'etc/phoenix-ga/phoenix-ga.conf');
  // The channel stays the installed default: serial:/dev/virtio-ports/org.qemu.guest_agent.0.
  fs.appendFileSync(cfg, `heartbeat = 10.0.2.2:${port}\nheartbeat-key-file = /etc/phoenix-ga/heartbeat.key\nheartbeat-interval = 1\nvm-id = ${VM_ID}\nstats-interval = 2\n`);
  assert.match(fs.readFileSync(cfg, 'utf8'), /^channel = serial:\/dev\/virtio-ports\/org\.qemu\.guest_agent\.0$/m);
}

async function sh(vm: Vm, script: string, timeoutMs?: number): Promise<string> {
  const r = await vm.shell(script, timeoutMs);
  if (r.code !== 0) throw new Error(`guest: ${script}: exit ${r.code}: ${r.out}`);
  return r.out;
}

async function pidOf(vm: Vm, name: string): Promise<number[]> {
  return (await vm.shell(`pgrep -x ${name} || true`)).out.trim().split('\n').filter(Boolean).map(Number);
}

/** A client that has resynchronised and had a ping answered; TCG boots and restarts are slow. */
async function agentUp(vm: Vm, what: string, timeoutMs = 60_000): Promise<AgentClient> {
  return waitFor(what, async () => {
    const c = new AgentClient({ path: vm.agentSock, attempts: 1 });
    try { await c.call('guest-ping', undefined, { timeoutMs: 3000 }); return c; } catch { c.close(); return null; }
  }, timeoutMs, 250);
}

const S = suite('phoenix-ga in a QEMU VM over virtio-serial');

S('installed by the installer, driven through the real port, survives every fault and a reboot', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const t0 = Date.now();
  const dir = tempDir('pga-vm-');
  const rx = await startReceiver(dir, VM_ID);
  const root = await prepareRoot(await ensureTree('vm'), 'vm-agent');
  let vm: Vm | null = null;
  try {
    prepareImage(root.merged, rx.port, rx.keyFile);
    vm = await startVm({ tree: root.merged, memMb: 384 });
    note(`vm e2e: booted ${since(t0)} after start`);
    const state = (await vm.shell('systemctl is-system-running --wait', 180_000)).out.trim();
    assert.ok(state === 'running' || state === 'degraded', `system state ${state}: ${(await vm.shell('systemctl --failed --no-legend')).out}`);
    assert.is((await sh(vm, 'systemctl is-active phoenix-ga')).trim(), 'active');
    assert.match(await sh(vm, 'readlink -f /dev/virtio-ports/org.qemu.guest_agent.0'), /^\/dev\/vport\dp\d\n$/);

    // resync, ping, info, stats through the real port.
    let c = await agentUp(vm, 'the agent answers on the virtio-serial port');
    assert.ok(c.stats.resyncs >= 1, 'the client resynchronised before its first command');
    const info = await c.call('guest-info') as { version: string; supported_commands: Array<{ name: string; enabled: boolean }> };
    assert.ok(info.supported_commands.some((x) => x.name === 'guest-ping' && x.enabled));
    assert.ok(info.supported_commands.some((x) => x.name === 'guest-exec' && !x.enabled), 'guest-exec blocked by the installed config');
    const os = await c.call('guest-get-osinfo') as { id: string; 'kernel-release': string };
    assert.is(os.id, 'debian');
    assert.is(os['kernel-release'], (await sh(vm, 'uname -r')).trim());
    const stats = await waitFor('two statistics samples', async () => {
      const s = await c.call('phoenix-get-stats') as { boot: string; samples: Array<{ memory: { total_bytes: number } }> };
      return s.samples.length >= 2 && s;
    }, 30_000, 1000);
    assert.is(stats.boot, (await sh(vm, 'cat /proc/sys/kernel/random/boot_id')).trim());
    const memTotal = Number((await sh(vm, "awk '/^MemTotal:/{print $2}' /proc/meminfo")).trim()) * 1024;
    assert.is(stats.samples[0].memory.total_bytes, memTotal, 'MemTotal as the guest sees it');
    await rx.waitState('working', 30_000);

    // Hostname, address, password: each carried out inside and checked there.
    const hn = await c.call('phoenix-set-hostname', { hostname: 'cust-42.example.net' }, { mutating: true }) as { live: string };
    assert.is(hn.live, 'changed', JSON.stringify(hn));
    assert.is((await sh(vm, 'hostname; cat /etc/hostname')), 'cust-42.example.net\ncust-42.example.net\n');
    assert.match(await sh(vm, 'cat /etc/hosts'), /^127\.0\.1\.1\s+cust-42\.example\.net\s+cust-42$/m);
    const ip = await c.call('phoenix-add-ip', { interface: 'eth0', address: '198.51.100.7', prefix: 24 }, { mutating: true }) as { live: string };
    assert.is(ip.live, 'added', JSON.stringify(ip));
    assert.match(await sh(vm, 'ip -o -4 addr show dev eth0'), /inet 198\.51\.100\.7\/24/);
    const password = 'Canary-' + Math.random().toString(36).slice(2);
    await c.call('guest-set-user-password', { username: 'root', password: Buffer.from(password).toString('base64'), crypted: false }, { mutating: true });
    const check = await sh(vm, `h=$(awk -F: '$1=="root"{print $2}' /etc/shadow); perl -e 'print crypt($ARGV[0], $ARGV[1]) eq $ARGV[1] ? "match\\n" : "differ\\n"' '${password}' "$h"`);
    assert.is(check, 'match\n', 'the root password in /etc/shadow is the one set');
    assert.is((await sh(vm, `journalctl -q --no-pager -b | grep -c '${password}' || true`)).trim(), '0', 'the password is not in the journal');
    // guest-set-time: the guest clock jumps to the given time (2030-03-17), then back to the host's.
    const target = 1_900_000_000;
    await c.call('guest-set-time', { time: target * 1e9 }, { mutating: true });
    const guestNow = Number(await sh(vm, 'date -u +%s'));
    assert.ok(guestNow >= target && guestNow < target + 60, `guest clock ${guestNow} after setting ${target}`);
    await c.call('guest-set-time', { time: Date.now() * 1e6 }, { mutating: true });
    assert.ok(Math.abs(Number(await sh(vm, 'date -u +%s')) - Date.now() / 1000) < 60, 'the clock is back');

    // The host side disconnects mid-request and reconnects: resync, and the agent carries on.
    const resyncs = c.stats.resyncs;
    const pending = c.call('guest-get-fsinfo', undefined, { timeoutMs: 10_000 }).catch((e: Error) => e);
    c.close();
    assert.instance(await pending, Error);
    assert.ok((await c.call('guest-ping')) !== undefined);
    assert.ok(c.stats.resyncs > resyncs, 'resynchronised after reconnecting');
    assert.is(await c.call('guest-get-host-name').then((h) => (h as { 'host-name': string })['host-name']), 'cust-42.example.net');

    // The worker killed (SIGKILL) while replies to a pipelined burst stream to the host.
    c.close();
    const [worker] = await pidOf(vm, 'phoenix-ga-work');
    const [sup] = await pidOf(vm, 'phoenix-ga');
    assert.ok(worker && sup, 'one supervisor and one worker');
    const burst = await new Promise<{ replies: number; sent: number }>((resolve, reject) => {
      const s = net.connect(vm!.agentSock);
      const N = 3000;
      let replies = 0;
      let killed = false;
      s.on('error', reject);
      s.on('data', (d: Buffer) => {
        for (const b of d) if (b === 0x0a) replies++;
        if (!killed && replies >= 50) {
          killed = true;
          vm!.shell(`kill -9 ${worker}`).then(() => sleep(1500)).then(() => { s.destroy(); resolve({ replies, sent: N }); }, reject);
        }
      });
      s.write('{"execute":"guest-info"}\n'.repeat(N));
    });
    assert.ok(burst.replies >= 50 && burst.replies < burst.sent, `killed mid-stream: ${burst.replies} of ${burst.sent} replies`);
    c = await agentUp(vm, 'the agent after the worker was killed', 30_000);
    const [worker2] = await pidOf(vm, 'phoenix-ga-work');
    assert.ok(worker2 && worker2 !== worker, `a new worker (${worker} -> ${worker2})`);
    assert.equal(await pidOf(vm, 'phoenix-ga'), [sup], 'the supervisor did not restart');
    assert.ok((await c.call('guest-info') as { version: string }).version, 'whole replies after the kill');

    // The supervisor killed: systemd starts a new one, the host resyncs.
    await sh(vm, `kill -9 ${sup}`);
    await waitFor('a new supervisor', async () => { const p = await pidOf(vm!, 'phoenix-ga'); return p.length === 1 && p[0] !== sup; }, 30_000, 250);
    c.close();
    c = await agentUp(vm, 'the agent after the supervisor was killed');
    assert.is((await pidOf(vm, 'phoenix-ga-work')).length, 1, 'exactly one worker');

    // A memory hog (oom_score_adj -1000) until the kernel OOM-kills the worker (oom_score_adj 500).
    const [w3] = await pidOf(vm, 'phoenix-ga-work');
    const [sup3] = await pidOf(vm, 'phoenix-ga');
    rx.states.length = 0;
    // It stops at the first OOM kill (the kernel's oom_kill counter), whoever the victim was, so
    // the kernel never has to choose a second one. /proc/PID would stay until the worker is reaped.
    const hog = `echo -1000 > /proc/self/oom_score_adj; exec perl -e 'sub kills { open(my $f, "<", "/proc/vmstat") or die; while (<$f>) { return $1 if /^oom_kill (\\d+)/ } die "no oom_kill in /proc/vmstat" } my $k = kills(); my @a; while (kills() == $k) { push @a, "x" x (1 << 20) } print "stopped at the first OOM kill after ", scalar(@a), " MiB\\n"'`;
    // Without swap, reclaim keeps evicting and re-reading program text (node's included) and the
    // kernel calls that progress: under TCG the guest thrashed for 30 s to over 5 min before the OOM
    // killer ran, and the supervisor's watchdog killed the stalled worker as hung meanwhile. MGLRU's
    // min_ttl_ms (the kernel's thrashing guard, Debian's kernel has it, off by default) makes the
    // kernel OOM-kill instead once the last second's working set cannot stay in memory; a
    // low-RAM VDS would want the same setting.
    await sh(vm, 'echo y > /sys/kernel/mm/lru_gen/enabled && echo 1000 > /sys/kernel/mm/lru_gen/min_ttl_ms');
    const tHog = Date.now();
    await sh(vm, `(${hog}) >/tmp/hog.log 2>&1 &`);
    const oom = await rx.waitState('oom-killed', 300_000);
    note(`vm e2e: hog started -> heartbeat says oom-killed in ${since(tHog)}`);
    assert.is(oom.payload.last_exit!.reason, 'kernel-oom', JSON.stringify(oom.payload.last_exit));
    assert.match(await sh(vm, 'sleep 1; cat /tmp/hog.log'), /^stopped at the first OOM kill after \d+ MiB$/m);
    // The victim is a worker: w3, or, when the guest thrashed first, the worker that replaced it
    // after the watchdog killed w3 as hung (named "node" until it sets its title). The supervisor's
    // own log names the pid it classified as OOM-killed.
    const killed = [...(await sh(vm, 'dmesg')).matchAll(/Killed process (\d+) \(([^)]*)\).*oom_score_adj:(-?\d+)/g)];
    assert.is(killed.length, 1, `one OOM kill: ${killed.map((k) => k[0]).join('; ')}`);
    const [line, victim, comm, adj] = killed[0];
    assert.ok(/^(phoenix-ga-work|node)$/.test(comm) && adj === '500', `the victim is a worker (${w3} before the hog): ${line}`);
    assert.match(await sh(vm, 'cat /var/log/phoenix-ga.log.1 2>/dev/null; cat /var/log/phoenix-ga.log'), new RegExp(`worker ${victim} \\(generation \\d+\\) died: kernel-oom`));
    assert.equal(await pidOf(vm, 'phoenix-ga'), [sup3], 'the supervisor survived the OOM kill');
    c.close();
    c = await agentUp(vm, 'the agent after the OOM kill');
    await rx.waitState('working', 60_000);

    // Reboot through guest-shutdown: no reply (as qemu-ga), a new boot, the address is back.
    const boot = (await sh(vm, 'cat /proc/sys/kernel/random/boot_id')).trim();
    await c.call('guest-shutdown', { mode: 'reboot' }, { noReply: true });
    await vm.awaitReboot(boot);
    assert.is.not((await sh(vm, 'cat /proc/sys/kernel/random/boot_id')).trim(), boot);
    c.close();
    c = await agentUp(vm, 'the agent after the reboot', 120_000);
    // The test shell answers before networkd has configured eth0.
    await waitFor('the added address is back after the reboot', async () => /inet 198\.51\.100\.7\/24/.test(await sh(vm!, 'ip -o -4 addr show dev eth0')), 60_000, 500)
      .catch(async (e) => { throw new Error(`${e.message}: ${await sh(vm!, 'ip -o addr; grep -r . /etc/systemd/network; journalctl -b --no-pager -u systemd-networkd | tail -20')}`); });
    const list = (await c.call('phoenix-list-ips', { interface: 'eth0' }) as Array<{ drift: unknown; renderer: string }>)[0];
    assert.is(list.renderer, 'networkd');
    assert.equal(list.drift, { live_only: [], persisted_only: [] });
    assert.is((await c.call('guest-get-host-name') as { 'host-name': string })['host-name'], 'cust-42.example.net', 'the host name too');
    c.close();
    note(`vm e2e: whole scenario ${since(t0)}`);
  } catch (e) {
    if (vm) {
      const j = await vm.shell('journalctl -b --no-pager -u phoenix-ga | tail -40', 20_000).catch(() => ({ out: '(no shell)' }));
      console.error(`--- guest journal (phoenix-ga) ---\n${j.out}\n--- console (kernel messages) ---\n${vm.console().slice(-6000)}\n--- heartbeat states ---\n${rx.states.join(' > ')}`);
    }
    throw e;
  } finally {
    await vm?.stop();
    await root.cleanup();
    rx.close();
  }
});

S.run();

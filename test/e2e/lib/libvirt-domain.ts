// A libvirt domain of type qemu (TCG) booting the e2e VM's kernel and disk, as a hosting company
// would define it for the guest agent: a <channel type='unix'> with target org.qemu.guest_agent.0
// that libvirtd itself connects to. A second channel carries the test shell (vm-shell.ts), and the
// serial console goes to a file, as in vm.ts.

import * as fs from 'fs';
import * as path from 'path';
import { Libvirtd, VirshResult } from './libvirtd';
import { note, since } from './host';
import { TB_CACHE_MB } from './vm';
import { serialShell, ShellResult } from './vm-shell';

export interface DomainOptions {
  name: string;
  /** A raw disk image the domain may write (a copy: the domain keeps its changes across boots). */
  disk: string;
  kernel: string;
  initrd: string;
  memMb?: number;
  vcpus?: number;
}

export interface Domain {
  name: string;
  /** Runs virsh with the domain's name as the first argument after the command. */
  virsh(cmd: string, args?: string[], timeoutMs?: number): Promise<VirshResult>;
  /** Runs a bash script in the guest as root, stdout and stderr merged; default timeout 60 s. */
  shell(script: string, timeoutMs?: number): Promise<ShellResult>;
  /** `virsh start`, then waits for the test shell. */
  start(): Promise<void>;
  /** Waits for a boot other than BEFORE (a boot id) to reach the test shell: a reboot the guest did itself. */
  awaitReboot(before: string): Promise<void>;
  /** `virsh domstate`, e.g. running, paused, pmsuspended, shut off. */
  state(): Promise<string>;
  /** Waits until the domain has the state, or throws after timeoutMs. */
  waitState(state: string, timeoutMs: number): Promise<void>;
  /** The running QEMU's pid (from libvirt's pid file), or null. */
  qemuPid(): number | null;
  console(): string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const xmlText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;');

export function domainXml(o: DomainOptions, dir: string): string {
  const p = (n: string) => xmlText(path.join(dir, n));
  const vcpus = o.vcpus ?? 2;
  return `<domain type='qemu'>
  <name>${xmlText(o.name)}</name>
  <memory unit='MiB'>${o.memMb ?? 512}</memory>
  <vcpu placement='static' current='${vcpus}'>${vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${xmlText(o.kernel)}</kernel>
    <initrd>${xmlText(o.initrd)}</initrd>
    <cmdline>root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=-1 quiet</cmdline>
  </os>
  <features><acpi/><tcg><tb-cache unit='MiB'>${TB_CACHE_MB}</tb-cache></tcg></features>
  <cpu mode='maximum'/>
  <pm><suspend-to-mem enabled='yes'/><suspend-to-disk enabled='no'/></pm>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' discard='unmap'/>
      <source file='${xmlText(o.disk)}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <controller type='virtio-serial' index='0'/>
    <serial type='file'><source path='${p('console.log')}' append='on'/><target port='0'/></serial>
    <channel type='unix'>
      <source mode='bind' path='${p('agent.sock')}'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <channel type='unix'>
      <source mode='bind' path='${p('shell.sock')}'/>
      <target type='virtio' name='e2e.shell'/>
    </channel>
    <interface type='user'><model type='virtio'/></interface>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

/** Defines the domain (persistent, not started) with its sockets and console in dir. */
export async function defineDomain(lv: Libvirtd, o: DomainOptions, dir: string): Promise<Domain> {
  const xml = path.join(dir, `${o.name}.xml`);
  fs.writeFileSync(xml, domainXml(o, dir));
  const def = await lv.virsh(['define', xml]);
  if (def.code !== 0) throw new Error(`e2e: virsh define: ${def.err}`);
  const virsh = (cmd: string, args: string[] = [], timeoutMs?: number) => lv.virsh([cmd, o.name, ...args], timeoutMs);
  const shell = serialShell(path.join(dir, 'shell.sock'));
  const consoleText = () => { try { return fs.readFileSync(path.join(dir, 'console.log'), 'utf8'); } catch { return ''; } };
  const state = async () => (await virsh('domstate')).out;
  const pidFile = path.join(lv.dir, 'run/qemu', `${o.name}.pid`);
  const qemuPid = () => { try { return Number(fs.readFileSync(pidFile, 'utf8').trim()) || null; } catch { return null; } };

  // One long request: QEMU holds it until the guest's shell opens its port.
  const waitShell = async (t0: number, what: string) => {
    const r = await shell('echo ready', 300_000).catch((e: Error) => ({ code: -1, out: e.message }));
    if (r.out.trim() !== 'ready') throw new Error(`e2e: domain ${o.name}: no test shell ${what}: ${r.out}\n--- console ---\n${consoleText().slice(-3000)}`);
    note(`domain ${o.name}: test shell ready ${since(t0)} ${what}`);
  };
  const dom: Domain = {
    name: o.name, virsh, state, qemuPid, console: consoleText,
    shell: (script, timeoutMs = 60_000) => shell(script, timeoutMs),
    async start() {
      const t0 = Date.now();
      const r = await virsh('start');
      if (r.code !== 0) throw new Error(`e2e: virsh start ${o.name}: ${r.err}\n${lv.log().slice(-2000)}`);
      const pid = qemuPid();
      if (pid) lv.own(pid);
      await waitShell(t0, 'after virsh start');
    },
    async awaitReboot(before) {
      const t0 = Date.now();
      // The console file is appended across boots: a banner after the last one of BEFORE.
      const newBoot = () => {
        const text = consoleText();
        const from = text.lastIndexOf(`e2e-shell: boot ${before}`);
        return [...text.slice(Math.max(0, from)).matchAll(/e2e-shell: boot ([0-9a-f-]{36})/g)].some((m) => m[1] !== before);
      };
      while (!newBoot()) {
        if (Date.now() - t0 > 300_000) throw new Error(`e2e: domain ${o.name}: no new boot after 300 s\n${consoleText().slice(-3000)}`);
        await sleep(200);
      }
      await waitShell(t0, 'after the reboot');
    },
    async waitState(want, timeoutMs) {
      const t0 = Date.now();
      let s = '';
      while ((s = await state()) !== want) {
        if (Date.now() - t0 > timeoutMs) throw new Error(`e2e: domain ${o.name} is ${s}, not ${want}, after ${timeoutMs} ms`);
        await sleep(250);
      }
    },
  };
  return dom;
}

// The virsh script run against each agent in the same libvirt domain: every agent-backed command
// virsh has, each followed by a look inside the guest where the command changes something. A step
// gives an Outcome: whether virsh succeeded and what the command did, in words for the table
// (text) and in a form compared across the two agents (key: the same key means the same result).

import * as fs from 'fs';
import * as path from 'path';
import { ED1, ED2 } from '../../security/keys';
import type { Domain } from './libvirt-domain';
import type { VirshResult } from './libvirtd';

export type AgentName = 'qemu-ga' | 'phoenix-ga';

export interface Outcome {
  ok: boolean;
  /** What happened, for the table (MAC addresses shortened, no times or sizes that change per run). */
  text: string;
  /** What is compared between agents; default text. */
  key?: string;
  data?: unknown;
}

export interface Ctx {
  agent: AgentName;
  dom: Domain;
  /** A host directory for files virsh reads (key files) and writes (snapshot overlays). */
  dir: string;
  /** Runs a guest script that must succeed; returns its output. */
  sh(script: string, timeoutMs?: number): Promise<string>;
}

export interface Step { name: string; run(c: Ctx): Promise<Outcome> }

/** virsh's error lines as one sentence. */
export function errorText(r: VirshResult): string {
  return (r.err || r.out).split('\n').map((l) => l.replace(/^error: /, '').trim()).filter(Boolean).join(' ').slice(0, 400);
}

const short = (s: string) => s.replace(/52:54:00(:[0-9a-f]{2}){3}/g, '52:54:00:…').replace(/5054:ff:fe[0-9a-f]{2}:[0-9a-f]{1,4}/g, '5054:ff:fe…');
const ok = (text: string, key = text, data?: unknown): Outcome => ({ ok: true, text: short(text), key, data });
const failed = (r: VirshResult): Outcome => ({ ok: false, text: errorText(r), key: `error` });
const rows = (out: string) => out.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter(Boolean).join('; ');

async function virsh(c: Ctx, cmd: string, args: string[], summarize: (out: string) => Outcome | Promise<Outcome>): Promise<Outcome> {
  const r = await c.dom.virsh(cmd, args);
  return r.code === 0 ? summarize(r.out) : failed(r);
}

function agentCommand(execute: string, summarize: (ret: unknown) => Outcome = (ret) => ok(JSON.stringify(ret))): Step {
  return {
    name: `qemu-agent-command '{"execute":"${execute}"}'`,
    run: (c) => virsh(c, 'qemu-agent-command', [JSON.stringify({ execute })], (out) => summarize((JSON.parse(out) as { return: unknown }).return)),
  };
}

// Values that change from one boot or one moment to the next.
const VOLATILE = /^(user\.\d+\.login-time|fs\.\d+\.used-bytes)$/;

function guestinfo(group: string): Step {
  return {
    name: `guestinfo --${group}`,
    run: (c) => virsh(c, 'guestinfo', [`--${group}`], (out) => {
      const kv = out.split('\n').map((l) => /^(\S+)\s*:\s(.*)$/.exec(l.trim())).filter((m): m is RegExpExecArray => !!m && !VOLATILE.test(m[1]));
      const text = kv.map((m) => `${m[1]}=${m[2].trim()}`).join(', ');
      // Each interface's lines under its name, sorted: equal when only the interfaces' order differs.
      const names = new Map(kv.filter((m) => /^if\.\d+\.name$/.test(m[1])).map((m) => [m[1].split('.')[1], m[2].trim()]));
      const byIf = kv.map((m) => `${m[1].replace(/^if\.(\d+)\./, (_, i: string) => `if.${names.get(i)}.`)}=${m[2].trim()}`);
      return ok(text, text, group === 'interface' ? { unordered: byIf.sort().join(', ') } : undefined);
    }),
  };
}

/** Waits until libvirt gets an answer from the agent again; returns how long that took. */
export async function agentAnswers(c: Ctx, timeoutMs = 90_000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const r = await c.dom.virsh('qemu-agent-command', ['--timeout', '5', JSON.stringify({ execute: 'guest-ping' })]);
    if (r.code === 0) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`e2e: ${c.agent} does not answer libvirt ${timeoutMs} ms after a kill: ${errorText(r)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The guest's clock minus the host's, in seconds. */
async function clockSkew(c: Ctx): Promise<number> {
  return Number((await c.sh('date -u +%s')).trim()) - Date.now() / 1000;
}

async function onlineCpus(c: Ctx): Promise<string> {
  return (await c.sh('cat /sys/devices/system/cpu/online')).trim();
}

async function freezeStatus(c: Ctx): Promise<string> {
  const r = await c.dom.virsh('qemu-agent-command', [JSON.stringify({ execute: 'guest-fsfreeze-status' })]);
  return r.code === 0 ? String((JSON.parse(r.out) as { return: unknown }).return) : errorText(r);
}

const crypt = (password: string) => `h=$(awk -F: '$1=="root"{print $2}' /etc/shadow); perl -e 'print crypt($ARGV[0], $ARGV[1]) eq $ARGV[1] ? "matches" : "differs"' '${password}' "$h"`;

/** Keys named key1 and key2, in order; virsh prints the keys it gets with no separator. */
const keyNames = (text: string) => text.split(ED1).join('\nkey1\n').split(ED2).join('\nkey2\n').split('\n').map((l) => l.trim()).filter(Boolean).join(' + ');

async function authorizedKeys(c: Ctx): Promise<string> {
  return keyNames(await c.sh('cat /root/.ssh/authorized_keys 2>/dev/null || echo "(no file)"'));
}

export function commonSteps(): Step[] {
  const password = `Pw-${Math.random().toString(36).slice(2)}`;
  return [
    agentCommand('guest-ping'),
    agentCommand('guest-info', (ret) => {
      const r = ret as { version: string; supported_commands: Array<{ name: string; enabled: boolean }> };
      const enabled = r.supported_commands.filter((x) => x.enabled).map((x) => x.name).sort();
      return ok(`version ${r.version}, ${enabled.length} of ${r.supported_commands.length} commands enabled`, 'info', enabled);
    }),
    ...['user', 'os', 'timezone', 'hostname', 'filesystem', 'interface', 'disk'].map(guestinfo),
    { name: 'domfsinfo', run: (c) => virsh(c, 'domfsinfo', [], (out) => ok(rows(out))) },
    {
      name: 'domifaddr --source agent',
      // A row whose name is "-" continues the interface above it.
      run: (c) => virsh(c, 'domifaddr', ['--source', 'agent'], (out) => ok(rows(out), rows(out),
        { unordered: rows(out).split(/; (?!- -)/).sort().join('; ') })),
    },
    { name: 'domhostname --source agent', run: (c) => virsh(c, 'domhostname', ['--source', 'agent'], (out) => ok(out)) },
    { name: 'vcpucount --guest', run: (c) => virsh(c, 'vcpucount', ['--guest'], (out) => ok(out)) },
    { name: 'guestvcpus', run: (c) => virsh(c, 'guestvcpus', [], (out) => ok(rows(out))) },
    ...(['disable', 'enable'] as const).map((how): Step => ({
      name: `guestvcpus --${how} --cpulist 1`,
      run: (c) => virsh(c, 'guestvcpus', [`--${how}`, '--cpulist', '1'], async () => ok(`online in the guest: ${await onlineCpus(c)}`)),
    })),
    ...[1, 2].map((n): Step => ({
      name: `setvcpus ${n} --guest`,
      run: (c) => virsh(c, 'setvcpus', [String(n), '--guest'], async () => ok(`online in the guest: ${await onlineCpus(c)}`)),
    })),
    {
      name: 'domtime',
      run: (c) => virsh(c, 'domtime', [], async (out) => {
        const skew = Number(/Time: (\d+)/.exec(out)?.[1]) - Date.now() / 1000;
        return ok(Math.abs(skew) < 60 ? "the guest's time, within 60 s of the host's" : `off by ${skew.toFixed(0)} s: ${out}`);
      }),
    },
    {
      name: 'domtime --time 1900000000',
      run: (c) => virsh(c, 'domtime', ['--time', '1900000000'], async () => {
        const t = Number((await c.sh('date -u +%s')).trim());
        return ok(t >= 1_900_000_000 && t < 1_900_000_060 ? 'guest clock set to 2030-03-17 17:46 UTC' : `guest clock at ${t}`);
      }),
    },
    {
      name: 'domtime --sync',
      // The system clock a day behind the RTC first, so that only a read of the RTC puts it right.
      run: async (c) => {
        await c.sh('date -u -s @$(( $(cat /sys/class/rtc/rtc0/since_epoch) - 86400 )) >/dev/null');
        return virsh(c, 'domtime', ['--sync'], async () => {
          const d = Number((await c.sh('echo $(( $(date -u +%s) - $(cat /sys/class/rtc/rtc0/since_epoch) ))')).trim());
          return ok(Math.abs(d) < 60 ? 'guest clock set from the RTC (it was a day behind)' : `guest clock ${d} s from the RTC`);
        });
      },
    },
    {
      name: 'domtime --now',
      run: (c) => virsh(c, 'domtime', ['--now'], async () => {
        const skew = await clockSkew(c);
        return ok(Math.abs(skew) < 60 ? "guest clock set to the host's" : `guest clock off by ${skew.toFixed(0)} s`);
      }),
    },
    {
      name: 'set-user-password root PASSWORD',
      run: (c) => virsh(c, 'set-user-password', ['root', password], async () => ok(`crypt(3) of the password ${await c.sh(crypt(password))} /etc/shadow`)),
    },
    {
      name: 'set-user-password --encrypted root HASH',
      run: async (c) => {
        const hash = (await c.sh(`perl -e 'print crypt("${password}-2", "\\$6\\$e2e${c.agent.replace('-', '')}\\$")'`)).trim();
        return virsh(c, 'set-user-password', ['--encrypted', 'root', hash], async () => {
          const stored = (await c.sh("awk -F: '$1==\"root\"{print $2}' /etc/shadow")).trim();
          return ok(stored === hash ? 'the hash is in /etc/shadow as given' : 'the hash in /etc/shadow differs');
        });
      },
    },
    { name: 'domfsfreeze', run: (c) => virsh(c, 'domfsfreeze', [], async () => ok(`guest-fsfreeze-status: ${await freezeStatus(c)}`)) },
    { name: 'domfsthaw', run: (c) => virsh(c, 'domfsthaw', [], async () => ok(`guest-fsfreeze-status: ${await freezeStatus(c)}`)) },
    { name: 'domfstrim', run: (c) => virsh(c, 'domfstrim', [], (out) => ok(out || 'done (no output)')) },
    {
      name: 'snapshot-create-as --disk-only --quiesce',
      run: (c) => virsh(c, 'snapshot-create-as', ['--disk-only', '--quiesce', '--atomic', '--no-metadata', '--name', `quiesced-${c.agent}`,
        '--diskspec', `vda,file=${path.join(c.dir, `overlay-${c.agent}.qcow2`)}`], async () => {
        return ok(`created; guest-fsfreeze-status afterwards: ${await freezeStatus(c)}`);
      }),
    },
    {
      name: 'get-user-sshkeys root (no file)',
      run: async (c) => { await c.sh('rm -rf /root/.ssh'); return virsh(c, 'get-user-sshkeys', ['root'], (out) => ok(out || '(none)')); },
    },
    {
      name: 'set-user-sshkeys root --file KEYS (2 keys, ending in a newline)',
      run: (c) => {
        const f = path.join(c.dir, 'keys');
        fs.writeFileSync(f, `${ED1}\n${ED2}\n`);
        return virsh(c, 'set-user-sshkeys', ['root', '--file', f], async () => ok(`authorized_keys: ${await authorizedKeys(c)}`));
      },
    },
    { name: 'get-user-sshkeys root', run: (c) => virsh(c, 'get-user-sshkeys', ['root'], (out) => ok(keyNames(out))) },
    ...([['--remove', ED1], ['--reset', ED1]] as const).map(([flag, key]): Step => ({
      name: `set-user-sshkeys root ${flag} --file KEY1`,
      run: (c) => {
        const f = path.join(c.dir, 'key1');
        fs.writeFileSync(f, `${key}\n`);
        return virsh(c, 'set-user-sshkeys', ['root', flag, '--file', f], async () => ok(`authorized_keys: ${await authorizedKeys(c)}`));
      },
    })),
    {
      name: 'dompmsuspend mem',
      run: (c) => virsh(c, 'dompmsuspend', ['mem'], async () => {
        await c.dom.waitState('pmsuspended', 60_000).catch(() => undefined);
        return ok(`domain ${await c.dom.state()}`);
      }),
    },
    {
      name: 'dompmwakeup',
      run: (c) => virsh(c, 'dompmwakeup', [], async () => {
        await c.dom.waitState('running', 60_000).catch(() => undefined);
        const first = await c.dom.virsh('qemu-agent-command', [JSON.stringify({ execute: 'guest-ping' })]);
        const ms = await agentAnswers(c, 60_000).then((t) => `answers ${t < 5000 ? 'within 5 s' : 'after more than 5 s'}`, (e: Error) => e.message);
        const state = await c.dom.state();
        // Whether the guest has reopened the port by the first call is a race (either agent): compared without it.
        return ok(`domain ${state}; right after: ${first.code === 0 ? 'guest-ping answered' : errorText(first)}; the agent ${ms}`,
          `domain ${state}; the agent ${/^answers/.test(ms) ? 'answers' : ms}`);
      }),
    },
  ];
}

// guest-suspend-*: which method qemu-ga's order picks (systemctl where systemd runs, pm-utils,
// /sys/power/state) and the refusal where the kernel cannot do the mode, as a table over the pure
// plan function; the facts read from a temporary root; the real refusal on this machine. Nothing
// here suspends: a plan that would run systemctl or write /sys/power/state is only looked at.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { suspend, suspendFacts, suspendPlan, SuspendFacts } from '../../agent/actions/suspend';
import { createSystem } from '../../agent/os/system';
import { startAgent, tempDir } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';

const facts = (o: Partial<SuspendFacts>): SuspendFacts => ({ state: 'freeze mem disk\n', disk: '[platform] shutdown reboot suspend test_resume\n', systemd: false, tools: {}, ...o });
const withAll = { systemctl: '/usr/bin/systemctl', 'pm-suspend': '/usr/sbin/pm-suspend', 'pm-hibernate': '/usr/sbin/pm-hibernate', 'pm-suspend-hybrid': '/usr/sbin/pm-suspend-hybrid' };

test('the plan: systemd first, then pm-utils, then the kernel file; hybrid has no kernel-file way', () => {
  const cases: Array<[string, Parameters<typeof suspendPlan>[0], Partial<SuspendFacts>, unknown]> = [
    ['systemd', 'ram', { systemd: true, tools: withAll }, { run: '/usr/bin/systemctl', args: ['suspend'], name: 'systemctl suspend' }],
    ['systemd disk', 'disk', { systemd: true, tools: withAll }, { run: '/usr/bin/systemctl', args: ['hibernate'], name: 'systemctl hibernate' }],
    ['systemd hybrid', 'hybrid', { systemd: true, tools: withAll }, { run: '/usr/bin/systemctl', args: ['hybrid-sleep'], name: 'systemctl hybrid-sleep' }],
    ['systemctl without systemd running: pm-utils', 'ram', { tools: withAll }, { run: '/usr/sbin/pm-suspend', args: [], name: 'pm-suspend' }],
    ['pm-utils hybrid', 'hybrid', { tools: withAll }, { run: '/usr/sbin/pm-suspend-hybrid', args: [], name: 'pm-suspend-hybrid' }],
    ['kernel file, ram', 'ram', {}, { write: 'mem' }],
    ['kernel file, disk', 'disk', {}, { write: 'disk' }],
    ['kernel file, hybrid', 'hybrid', {}, { error: 'unknown guest suspend mode: hybrid sleep needs systemd or pm-utils here' }],
  ];
  for (const [name, mode, f, plan] of cases) assert.equal(suspendPlan(mode, facts(f)), plan, name);
});

test('the refusals name what the kernel lacks, whatever tools there are', () => {
  const no = 'the requested suspend mode is not supported by the guest';
  assert.equal(suspendPlan('ram', facts({ state: '\n', systemd: true, tools: withAll })), { error: `${no}: /sys/power/state offers no sleep state, suspend to RAM needs 'mem'` });
  assert.equal(suspendPlan('disk', facts({ state: 'freeze mem\n', systemd: true, tools: withAll })), { error: `${no}: /sys/power/state offers 'freeze mem', hibernation needs 'disk'` });
  assert.equal(suspendPlan('hybrid', facts({ disk: '[platform] shutdown reboot\n', tools: withAll })), { error: `${no}: /sys/power/disk offers 'platform shutdown reboot', hybrid sleep needs 'suspend' there` });
  assert.equal(suspendPlan('ram', facts({ state: null })), { error: `${no}: /sys/power/state cannot be read, suspend to RAM needs 'mem'` });
});

test('the facts from a root tree: /sys/power files and systemd\'s marker directory', () => {
  const root = tempDir('power-');
  fs.mkdirSync(path.join(root, 'sys/power'), { recursive: true });
  fs.writeFileSync(path.join(root, 'sys/power/state'), 'freeze mem\n');
  fs.writeFileSync(path.join(root, 'sys/power/disk'), '[shutdown] reboot\n');
  const sys = createSystem(root);
  const f = suspendFacts(sys, 'ram');
  assert.equal({ ...f, tools: undefined }, { state: 'freeze mem\n', disk: '[shutdown] reboot\n', systemd: false, tools: undefined });
  fs.mkdirSync(path.join(root, 'run/systemd/system'), { recursive: true });
  assert.is(suspendFacts(sys, 'ram').systemd, true);
  const plan = suspendPlan('disk', suspendFacts(sys, 'disk'));
  assert.match('error' in plan ? plan.error : '', /needs 'disk'$/);
});

test('through the agent on this machine: a kernel that cannot suspend gets an error reply, not silence', async () => {
  const offered = fs.readFileSync('/sys/power/state', 'utf8').trim();
  if (/\b(mem|disk)\b/.test(offered)) {
    console.log(`  (not run: this kernel offers '${offered}', and this machine must not be suspended)`);
    return;
  }
  await assertRefuses(createSystem('/'));
  const agent = startAgent({ interval: 0.5 });
  try {
    await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    for (const mode of ['ram', 'disk', 'hybrid']) {
      const r = await c.request(`guest-suspend-${mode}`);
      assert.is(r.error?.class, 'GenericError', mode);
      assert.match(r.error.desc, /^the requested suspend mode is not supported by the guest: /);
    }
    const info = (await c.request('guest-info')).return.supported_commands as Array<{ name: string; 'success-response': boolean; enabled: boolean }>;
    assert.equal(info.filter((x) => x.name.startsWith('guest-suspend-')).map((x) => [x.name, x['success-response'], x.enabled]),
      [['guest-suspend-disk', false, true], ['guest-suspend-ram', false, true], ['guest-suspend-hybrid', false, true]]);
    c.close();
  } finally {
    await agent.stop();
  }
});

async function assertRefuses(sys: ReturnType<typeof createSystem>): Promise<void> {
  try {
    await suspend(sys, 'ram');
  } catch (e) {
    assert.match((e as Error).message, /not supported by the guest/);
    return;
  }
  assert.unreachable('suspend did not refuse');
}

test.run();

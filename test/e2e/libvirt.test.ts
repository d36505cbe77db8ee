// libvirt's own client against both agents in one image: Debian's libvirtd (started for the test,
// see lib/libvirtd.ts) runs the e2e VM as a TCG domain whose agent channel is a
// <channel type='unix'> named org.qemu.guest_agent.0, and virsh runs the same script against
// Debian's qemu-ga (first boot) and phoenix-ga (second boot): every agent-backed virsh command,
// the agent SIGKILLed during a stream of calls and at each step of set-user-password that timing
// reaches, a reboot and a shutdown through the agent. The outcomes, side by side, are written to
// docs/compatibility.md; phoenix-ga must succeed wherever qemu-ga does, and every difference must
// be one documented in lib/compat-table.ts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, tempDir } from '../helpers/agent';
import { renderDoc } from './lib/compat-doc';
import { problems, Row } from './lib/compat-table';
import { installDebs, qemuGaDebs } from './lib/guest-qga';
import { note, since } from './lib/host';
import { defineDomain, Domain } from './lib/libvirt-domain';
import { Libvirtd, startLibvirtd } from './lib/libvirtd';
import { prepareRoot, Root } from './lib/nspawn';
import { ensureTree } from './lib/rootfs';
import { killDuringStream, killSteps, PasswordKill, streamOutcome } from './lib/virsh-kills';
import { agentAnswers, AgentName, commonSteps, Ctx, errorText, Outcome, Step } from './lib/virsh-steps';
import { diskImage, kernelOf } from './lib/vm-image';

const CLI = path.join(ROOT, 'dist/phoenix-ga');
const DOC = path.join(ROOT, 'docs/compatibility.md');

/** The image: the vm tree with phoenix-ga installed by its installer (disabled for the first boot) and Debian's qemu-guest-agent. */
async function buildImage(root: Root, dir: string): Promise<string> {
  const r = spawnSync(CLI, ['install', '--root', root.merged], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stdout + r.stderr);
  await installDebs(root.merged, await qemuGaDebs(await ensureTree('vm')));
  fs.rmSync(path.join(root.merged, 'etc/systemd/system/multi-user.target.wants/phoenix-ga.service'));
  return diskImage(root.merged, dir, []);
}

const lifeSteps = (): Step[] => [
  { name: 'agent killed 3 times during a stream of virsh calls', run: async (c) => streamOutcome(await killDuringStream(c), c.agent) },
  ...killSteps(),
  {
    name: 'reboot --mode agent',
    async run(c) {
      const boot = (await c.sh('cat /proc/sys/kernel/random/boot_id')).trim();
      const qemu = c.dom.qemuPid();
      const r = await c.dom.virsh('reboot', ['--mode', 'agent']);
      if (r.code !== 0) return { ok: false, text: errorText(r) };
      await c.dom.awaitReboot(boot);
      const ms = await agentAnswers(c, 180_000);
      const same = c.dom.qemuPid() === qemu;
      note(`libvirt e2e: ${c.agent} answered ${(ms / 1000).toFixed(1)} s after the rebooted guest's shell`);
      return { ok: same, text: `the guest rebooted (a new boot, ${same ? 'the same QEMU process' : 'A NEW QEMU PROCESS'}); the agent answers again` };
    },
  },
  {
    name: 'shutdown --mode agent',
    async run(c) {
      // The next boot runs phoenix-ga (a no-op on phoenix-ga's own boot).
      if (c.agent === 'qemu-ga') await c.sh('systemctl mask -q qemu-guest-agent && systemctl enable -q phoenix-ga');
      const r = await c.dom.virsh('shutdown', ['--mode', 'agent']);
      if (r.code !== 0) return { ok: false, text: errorText(r) };
      await c.dom.waitState('shut off', 180_000);
      return { ok: true, text: 'the domain shut off' };
    },
  },
];

async function runAgent(dom: Domain, agent: AgentName, dir: string): Promise<Map<string, { o: Outcome; ms: number }>> {
  const t0 = Date.now();
  await dom.start();
  const sh = async (script: string, timeoutMs?: number) => {
    const r = await dom.shell(script, timeoutMs);
    if (r.code !== 0) throw new Error(`guest: ${script}: exit ${r.code}: ${r.out}`);
    return r.out;
  };
  const c: Ctx = { agent, dom, dir, sh };
  note(`libvirt e2e: ${agent} answers libvirt ${((await agentAnswers(c, 180_000)) / 1000).toFixed(1)} s after the shell; boot ${since(t0)}`);
  const other = agent === 'qemu-ga' ? 'phoenix-ga' : 'qemu-guest-agent';
  assert.is((await dom.shell(`systemctl is-active ${other}`)).out.trim(), 'inactive', `${other} must not run beside ${agent}`);
  // guestinfo --user lists root's autologin on the serial console: wait for it.
  await sh('for i in $(seq 240); do who | grep -q "^root " && exit 0; sleep 0.5; done; exit 1', 150_000);
  const out = new Map<string, { o: Outcome; ms: number }>();
  for (const step of [...commonSteps(), ...lifeSteps()]) {
    const t = Date.now();
    const o = await step.run(c).catch((e: Error) => ({ ok: false, text: `TEST ERROR: ${e.message}` }));
    out.set(step.name, { o, ms: Date.now() - t });
    note(`libvirt e2e: ${agent}: ${step.name} (${since(t)}): ${o.ok ? 'ok' : 'FAILED'}: ${o.text}`);
  }
  note(`libvirt e2e: ${agent}: whole script ${since(t0)}`);
  return out;
}

const S = suite('libvirt (virsh) drives phoenix-ga as it drives qemu-ga');

S('the same virsh script against qemu-ga and phoenix-ga in one libvirt domain', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const t0 = Date.now();
  const daemon = startLibvirtd();
  daemon.catch(() => undefined);
  let lv: Libvirtd | null = null;
  let dom: Domain | null = null;
  const root = await prepareRoot(await ensureTree('vm'), 'libvirt-image');
  try {
    lv = await daemon;
    const dir = path.join(lv.dir, 'domain');
    fs.mkdirSync(dir);
    const disk = await buildImage(root, dir);
    await root.cleanup();
    note(`libvirt e2e: libvirtd and the image ready ${since(t0)} after start`);
    dom = await defineDomain(lv, { name: `pga-${path.basename(lv.dir).slice(-6)}`, disk, ...kernelOf(await ensureTree('vm')) }, dir);
    const q = await runAgent(dom, 'qemu-ga', dir);
    const p = await runAgent(dom, 'phoenix-ga', dir);
    const rows: Row[] = [...q.keys()].map((step) => ({ step, q: q.get(step)!.o, p: p.get(step)!.o, ms: { q: q.get(step)!.ms, p: p.get(step)!.ms } }));
    const versions = { libvirt: (await lv.virsh(['version'])).out.split('\n').find((l) => /library/.test(l)) ?? '' };
    fs.writeFileSync(DOC, renderDoc(rows, versions));
    note(`libvirt e2e: wrote ${DOC}; whole test ${since(t0)}`);
    const bad = problems(rows);
    assert.equal(bad, [], `phoenix-ga differs from qemu-ga under libvirt:\n${bad.join('\n')}`);
    // What the kills must show on phoenix-ga, whatever qemu-ga did in the same step.
    for (const [step, { o }] of p) {
      if (!/^agent killed/.test(step)) continue;
      const k = o.data as PasswordKill | undefined;
      if (k) note(`libvirt e2e: phoenix-ga: ${step}: virsh returned ${k.killToReturnMs === null ? '?' : Math.round(k.killToReturnMs)} ms after the kill; ` +
        `the next agent call ${k.nextOk ? 'worked' : `failed (${k.nextError})`} in ${k.nextMs} ms`);
      assert.ok(o.ok, `phoenix-ga: ${step}: ${o.text}`);
      assert.not.match(o.text, /state change lock|HUNG/, `phoenix-ga: ${step}`);
    }
  } catch (e) {
    // The run directory goes with libvirtd: keep its log (every agent line libvirt sent and got) for a look.
    if (lv) {
      const kept = path.join(tempDir('pga-libvirt-failed-'), 'libvirtd.log');
      fs.writeFileSync(kept, lv.log());
      process.stderr.write(`--- libvirtd log (errors; all of it in ${kept}) ---\n${lv.log().split('\n').filter((l) => / error : /.test(l)).slice(-30).join('\n')}\n`);
    }
    if (dom) {
      const j = await dom.shell('tail -n 40 /var/log/phoenix-ga.log 2>/dev/null', 20_000).catch(() => ({ out: '(no shell)' }));
      process.stderr.write(`--- guest: phoenix-ga.log ---\n${j.out}\n--- console ---\n${dom.console().slice(-3000)}\n`);
    }
    throw e;
  } finally {
    await root.cleanup();
    await lv?.stop();
  }
});

S.run();

// Updates over the channel in a real QEMU VM (TCG), through the agent's own virtio-serial port.
// A is installed into the image by its installer; the panel's client (panel/agent-client.ts) on
// the port's host socket pushes releases. First A -> B while the panel keeps sending keyed
// changes (each adds one ssh key line) and reads: none is lost, none runs twice, counted in the
// guest. Then the power is cut (SIGKILL of QEMU) at each step of later updates, the same disk is
// booted again, and each time an agent answers with one of the two versions, its status agrees
// with the installed layout, and the update goes on from where it was cut.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { AgentClient, AgentError } from '../../panel/agent-client';
import { updateAgent } from '../../panel/ctl-update';
import { waitFor } from '../helpers/agent';
import { scratchDir } from '../helpers/versions';
import { note, since } from './lib/host';
import { prepareRoot } from './lib/nspawn';
import { ensureTree } from './lib/rootfs';
import { agentUp, AgentStatus, installable, installInto, makeReleaseKey, releaseVersion, SharedClient, signedRelease, sshKeyLine, statusOf, uploadRelease } from './lib/update-vm';
import { startVm, Vm } from './lib/vm';

const [A, B, C, D, E] = ['0.9.0', '0.9.1', '0.9.2', '0.9.3', '0.9.4'];
const LIB = '/usr/lib/phoenix-ga';
// Generous: under TCG on a loaded host a new worker may need over a minute to be ready (the update is final 5 s after).
const WINDOW_S = 600;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The errors the agent gives a request it could not finish because its worker stopped: retry it. */
const RETRYABLE = /send it again|completed, but/;

async function sh(vm: Vm, script: string): Promise<string> {
  const r = await vm.shell(script, 120_000);
  if (r.code !== 0) throw new Error(`guest: ${script}: exit ${r.code}: ${r.out}`);
  return r.out;
}

interface Request { key: string; start: number; end: number; tries: number; version?: string }

/**
 * The panel's traffic: a keyed change (one ssh key line each) and a read, again and again, each
 * sent until it has its one reply; a lost connection, a timeout or the agent's "send it again"
 * is retried with the same key. Anything else fails the test.
 */
function panelTraffic(c: AgentClient, onVersion: (version: string) => void): { stop(): Promise<Request[]>; errors: string[] } {
  const done: Request[] = [];
  const errors: string[] = [];
  let running = true;
  const once = async (cmd: string, args: Record<string, unknown> | undefined, key: string | undefined): Promise<(Request & { reply: unknown }) | null> => {
    const r = { key: key ?? '', start: Date.now(), end: 0, tries: 0 };
    for (;;) {
      r.tries++;
      try {
        const reply = await c.call(cmd, args, key ? { mutating: true, key, timeoutMs: 10_000 } : { timeoutMs: 10_000 });
        return { ...r, end: Date.now(), reply };
      } catch (e) {
        // Stopped by the test's own power cut: not a request the update touched.
        if (!running) return null;
        if (e instanceof AgentError && !RETRYABLE.test(e.desc)) throw e;
        errors.push(`${cmd} ${key ?? ''}: ${(e as Error).message}`);
        if (r.tries >= 40) throw e;
        await sleep(100);
      }
    }
  };
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const key = `upd-${i}`;
      const change = await once('guest-ssh-add-authorized-keys', { username: 'root', keys: [sshKeyLine(key)] }, key);
      if (!change) break;
      done.push(change);
      const info = await once('guest-info', undefined, undefined);
      if (!info) break;
      const version = (info.reply as { version: string }).version;
      onVersion(version);
      done.push({ ...info, key: '', version });
    }
  })();
  // Synchronous up to the first await: a power cut right after stop() ends the loop, not the test.
  return { errors, stop: () => { running = false; return loop.then(() => done); } };
}

/** After a cut: an agent answers with one of ALLOWED, and its status agrees with the installed layout. */
async function afterCut(vm: Vm, allowed: string[], what: string): Promise<{ c: SharedClient; version: string; st: AgentStatus }> {
  const t0 = Date.now();
  const c = await agentUp(vm);
  const version = (await c.call('guest-info', undefined, { timeoutMs: 15_000 }) as { version: string }).version;
  assert.ok(allowed.includes(version), `${what}: the agent runs ${version}, expected ${allowed.join(' or ')}`);
  const st = await statusOf(c);
  assert.is(st.sup.ver, version, `${what}: the supervisor and the worker run one version`);
  assert.is((await sh(vm, `readlink ${LIB}/current`)).trim(), version, `${what}: current names the running version`);
  const u = st.update;
  if (u) assert.ok(u.state === 'update-failed' ? u.from === version : u.to === version, `${what}: the update status agrees: ${JSON.stringify(u)}`);
  note(`update-vm: ${what}: ${version} answers ${since(t0)} after the boot's shell; update ${JSON.stringify(u)}`);
  return { c, version, st };
}

async function waitUpdated(c: AgentClient, to: string): Promise<AgentStatus> {
  return waitFor(`the update to ${to} is final`, async () => {
    const st = await statusOf(c).catch(() => null);
    return st?.update?.to === to && st.update.state === 'updated' && st.sup.ver === to && st;
  }, (WINDOW_S + 60) * 1000, 500);
}

const S = suite('updates over the channel in a QEMU VM');

S('A -> B under panel traffic loses and repeats nothing; a power cut at each update step leaves an agent that resumes', async () => {
  if (process.getuid!() !== 0) throw new Error('needs root (CI is root)');
  const t0 = Date.now();
  const [key, next] = [makeReleaseKey(), makeReleaseKey()];
  const a = installable(A, key);
  // C rotates the key: D and E are signed with the next one, which only C's apply installs.
  const [relB, relC, relD, relE] = [signedRelease(B, key), signedRelease(C, key, next), signedRelease(D, next), signedRelease(E, next)];
  assert.equal([relB, relC, relD, relE].map(releaseVersion), [B, C, D, E]);
  note(`update-vm: builds and releases in ${since(t0)}`);
  const root = await prepareRoot(await ensureTree('vm'), 'update-vm');
  const disk = path.join(scratchDir('pga-update-vm-'), 'disk.img');
  let vm: Vm | null = null;
  const boot = async () => { vm = await startVm({ tree: root.merged, disk, memMb: 384, bootTimeoutMs: 400_000 }); return vm; };
  try {
    installInto(a, root.merged);
    assert.match(fs.readFileSync(path.join(root.merged, 'etc/phoenix-ga/phoenix-ga.conf'), 'utf8'), /^channel = serial:\/dev\/virtio-ports\/org\.qemu\.guest_agent\.0$/m);
    let v = await boot();
    let { c } = await afterCut(v, [A], 'first boot');

    // 1. A -> B by the panel's own update while its traffic goes on. The guest's log is read once
    // B answers: its last lines are not on the disk yet when the power is cut (they are not fsynced).
    let guestLog: Promise<string> | null = null;
    const traffic = panelTraffic(c, (version) => {
      guestLog ??= version === B ? sh(v, `cat /var/log/phoenix-ga.log; grep -F '"cmd":"phoenix-release-apply"' /var/lib/phoenix-ga/journal/journal.jsonl | tail -1`) : null;
    });
    let applied = 0;
    const up = await updateAgent(c, relB, WINDOW_S, (l) => { if (l.startsWith('applying')) applied = Date.now(); });
    const requests = await traffic.stop();
    assert.ok(up.ok, up.line);
    const firstB = Math.min(...requests.filter((r) => r.version === B).map((r) => r.end));
    assert.ok(applied > 0 && firstB > applied, 'B answered the panel after the apply');
    const crossed = requests.filter((r) => r.start < firstB && r.end > applied);
    const stall = Math.max(...requests.slice(1).map((r, i) => r.end - requests[i].end));
    note(`update-vm: ${requests.length} requests during the update (${requests.filter((r) => r.key).length} keyed), ${crossed.length} crossed the handover, ${traffic.errors.length} retried: ${traffic.errors.join(' | ')}`);
    note(`update-vm: apply reply -> first reply of B ${firstB - applied} ms; longest wait between two replies ${stall} ms`);
    const log = (await guestLog ?? '').split('\n');
    const at = (re: RegExp) => { const l = log.find((x) => re.test(x)); return l ? Date.parse(/"at":"([^"]+)"/.exec(l)?.[1] ?? l.split(' ')[0]) : NaN; };
    const [acked, handing, gone, started] = [/"step":"done"/, /supervisor info: handover: stopping$/, /supervisor info: stopped$/, new RegExp(`phoenix-ga ${B} starting`)].map(at);
    note(`update-vm: in the guest: apply recorded done -> handover ${handing - acked} ms -> old supervisor gone ${gone - handing} ms -> ${B}'s supervisor starting ${started - gone} ms`);

    // 2e + 2a. B is final; the power is cut during the chunked upload of C, halfway through agent.js.
    const agentSize = fs.statSync(path.join(relC, 'agent.js')).size;
    assert.ok((await uploadRelease(c, relC, (file, end) => file === 'agent.js' && end >= agentSize / 2)).stopped);
    await v.kill();
    v = await boot();
    ({ c } = await afterCut(v, [B], 'after a cut once B was final, during the upload of C'));
    // Each keyed change ran exactly once: its journal entry started once, its key line is there once.
    const lines = (await sh(v, 'cat /root/.ssh/authorized_keys')).split('\n');
    const journal = (await sh(v, 'cat /var/lib/phoenix-ga/journal/journal.jsonl')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { key: string; step: string });
    for (const k of requests.filter((r) => r.key).map((r) => r.key)) {
      assert.is(lines.filter((l) => l.endsWith(` ${k}`)).length, 1, `the key line of ${k} is in authorized_keys once`);
      assert.is(journal.filter((e) => e.key === k && e.step === 'started').length, 1, `${k} ran once`);
    }
    await waitUpdated(c, B);
    const partial = await c.call('phoenix-release-status', { version: C }) as { complete: boolean; files: Array<{ file: string; size: number }> };
    assert.is(partial.complete, false, JSON.stringify(partial));
    assert.ok((partial.files.find((f) => f.file === 'agent.js')?.size ?? 0) <= agentSize / 2 + (48 << 10), JSON.stringify(partial));

    // 2b. The upload resumes and completes; cut right after the last chunk's reply.
    const resumed = await uploadRelease(c, relC);
    note(`update-vm: the upload of ${C} resumed: ${JSON.stringify(resumed.resumed)}, ${resumed.sent} bytes sent`);
    await v.kill();
    v = await boot();
    ({ c } = await afterCut(v, [B], 'after a cut right after the last chunk'));
    assert.is((await c.call('phoenix-release-status', { version: C }) as { complete: boolean }).complete, true, 'the whole upload survived the cut');

    // 2c. Cut right after the apply's reply: the switch is done, the handover not yet.
    const r = await c.call('phoenix-release-apply', { version: C, window: WINDOW_S }, { mutating: true, timeoutMs: 120_000 }) as { previous: string };
    await v.kill();
    assert.is(r.previous, B);
    v = await boot();
    ({ c } = await afterCut(v, [B, C], 'after a cut right after the apply was acknowledged'));
    assert.is(await sh(v, `cat /etc/phoenix-ga/release-keys/${next.id}.pub`), fs.readFileSync(next.pub, 'utf8'), 'the next key installed by the apply is whole after the cut');
    await waitUpdated(c, C);
    assert.match(await sh(v, `ls ${LIB}`), new RegExp(`^${B}\\n${C}\\ncurrent\\nupdate\\n$`), 'A was removed once C was final');

    // 2d. C -> D; cut while D is pending: its supervisor runs (it was started by the init after
    // C's handed over) and the update is not yet final, as the guest's files and processes say.
    await uploadRelease(c, relD);
    await c.call('phoenix-release-apply', { version: D, window: WINDOW_S }, { mutating: true, timeoutMs: 120_000 });
    await waitFor(`${D}'s supervisor runs, ${D} still pending`, async () => (await sh(v,
      `[ -f ${LIB}/update/pending ] && readlink /proc/$(pgrep -x phoenix-ga)/exe || true`)).trim() === `${LIB}/${D}/node`, 240_000, 0);
    await v.kill();
    v = await boot();
    ({ c } = await afterCut(v, [C, D], 'after a cut while D was pending'));
    await waitUpdated(c, D);

    // After all the cuts, a fresh update goes through.
    const fresh = await updateAgent(c, relE, WINDOW_S, () => undefined);
    assert.ok(fresh.ok, fresh.line);
    assert.is((await c.call('guest-info') as { version: string }).version, E);
    c.close();
    await v.stop();
    note(`update-vm: whole scenario ${since(t0)}`);
  } catch (e) {
    const v = vm as Vm | null;
    if (v) {
      const j = await v.shell(`tail -40 /var/log/phoenix-ga.log; ls -l ${LIB} ${LIB}/update; cat ${LIB}/update/*`, 20_000).catch(() => ({ out: '(no shell)' }));
      console.error(`--- guest log (phoenix-ga) and layout ---\n${j.out}\n--- console ---\n${v.console().slice(-3000)}`);
    }
    throw e;
  } finally {
    await (vm as Vm | null)?.stop();
    await root.cleanup();
    fs.rmSync(disk, { force: true });
  }
});

S.run();

// The agent killed (SIGKILL, from inside the guest) while libvirt drives it: during a stream of
// virsh calls, and at each step of `virsh set-user-password` that timing can reach. "The agent" is
// qemu-ga's process, or phoenix-ga's worker found with `phoenix-ga status`. No step slows the
// command down: the guest watches the agent's children and /etc/shadow in a busy loop and kills
// the moment it sees the step. Each scenario ends with proof that libvirt still drives the agent
// without a domain restart: the same QEMU process and boot, and a command that works.

import { agentAnswers, AgentName, errorText, Outcome, Step, Ctx } from './virsh-steps';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Shell text that prints the agent's pid. */
function pidScript(c: Ctx): string {
  return c.agent === 'qemu-ga' ? 'pidof -s qemu-ga' : "phoenix-ga status | sed -n 's/^worker: [a-z-]*, pid \\([0-9]*\\),.*/\\1/p'";
}

async function agentPid(c: Ctx): Promise<number> {
  for (let i = 0; i < 120; i++) {
    const p = Number((await c.dom.shell(pidScript(c))).out.trim());
    if (p > 0) return p;
    await sleep(500);
  }
  throw new Error(`e2e: no ${c.agent} process in the guest`);
}

interface Fixed { qemu: number | null; boot: string }
const fixed = async (c: Ctx): Promise<Fixed> => ({ qemu: c.dom.qemuPid(), boot: (await c.sh('cat /proc/sys/kernel/random/boot_id')).trim() });
async function sameDomain(c: Ctx, before: Fixed): Promise<string> {
  const now = await fixed(c);
  return now.qemu === before.qemu && now.boot === before.boot ? 'no domain restart' : `DOMAIN RESTARTED (QEMU ${before.qemu} -> ${now.qemu}, boot ${before.boot} -> ${now.boot})`;
}

/** How many lines of phoenix-ga's log in this boot hold TEXT (0 for qemu-ga). */
async function logLines(c: Ctx, text: string): Promise<number> {
  if (c.agent !== 'phoenix-ga') return 0;
  return Number((await c.dom.shell(`grep -c "${text}" /var/log/phoenix-ga.log`)).out.trim()) || 0;
}

/**
 * How often phoenix-ga's supervisor has closed and reopened the port: after a worker died between
 * reading a request and recording it, or while writing replies, where it cannot know what the host
 * has. libvirt then sees the agent go and come back, as with qemu-ga.
 */
const reopens = (c: Ctx) => logLines(c, 'reopening it');

/** How many times phoenix-ga's supervisor has answered, with the error naming the restart, the requests a dead worker left in flight. */
const owedAnswers = (c: Ctx) => logLines(c, 'unanswered; answered them');

/** Distinct error texts, each with its count, the agent's pids and dates taken out. */
function errorSummary(errors: string[]): string {
  const counts = new Map<string, number>();
  for (const e of errors) {
    const k = e.replace(/\b\d{3,}\b/g, 'N');
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts].map(([e, n]) => `${n} × "${e}"`).join('; ');
}

// Read commands virsh sends all the time (a panel's poller); each is one agent call or a few.
const STREAM: string[][] = [
  ['domhostname', '--source', 'agent'], ['guestinfo', '--os'], ['domfsinfo'], ['domifaddr', '--source', 'agent'],
  ['domtime'], ['guestvcpus'], ['guestinfo', '--filesystem', '--user'],
];

export interface StreamResult { calls: number; ok: number; errors: string[]; hung: number; slowestMs: number; kills: number; recoveredMs: number; domain: string; reopens: number; owed: number }

/** KILLS SIGKILLs of the agent, about 4 s apart, while virsh calls run one after another. */
export async function killDuringStream(c: Ctx, kills = 3): Promise<StreamResult> {
  const before = await fixed(c);
  const reopened = await reopens(c);
  const owedBefore = await owedAnswers(c);
  await c.sh(`rm -f /run/e2e-kills; (for i in $(seq ${kills}); do sleep 4; p=$(${pidScript(c)}); kill -9 $p && echo "killed $p" >>/run/e2e-kills; ` +
    `for j in $(seq 120); do q=$(${pidScript(c)}); [ -n "$q" ] && [ "$q" != "$p" ] && break; sleep 0.5; done; done; echo done >>/run/e2e-kills) >/dev/null 2>&1 &`);
  const res: StreamResult = { calls: 0, ok: 0, errors: [], hung: 0, slowestMs: 0, kills: 0, recoveredMs: 0, domain: '', reopens: 0, owed: 0 };
  let doneAt = 0;
  for (let i = 0; doneAt === 0 || i < doneAt + 3; i++) {
    const r = await c.dom.virsh(STREAM[i % STREAM.length][0], STREAM[i % STREAM.length].slice(1), 60_000).catch(() => null);
    res.calls++;
    if (!r) res.hung++;
    else if (r.code === 0) res.ok++;
    else res.errors.push(errorText(r));
    res.slowestMs = Math.max(res.slowestMs, r?.ms ?? 60_000);
    if (doneAt === 0 && /done/.test((await c.dom.shell('cat /run/e2e-kills 2>/dev/null')).out)) doneAt = i;
    if (i > 400) throw new Error('e2e: the guest never finished its kills');
  }
  res.kills = (await c.sh('grep -c killed /run/e2e-kills')).trim() === String(kills) ? kills : -1;
  res.recoveredMs = await agentAnswers(c);
  res.domain = await sameDomain(c, before);
  res.reopens = (await reopens(c)) - reopened;
  res.owed = (await owedAnswers(c)) - owedBefore;
  return res;
}

/**
 * How a failed call failed: an answer that names the worker's restart, the agent gone from libvirt's
 * view, or a `domhostname` whose agent error libvirt dropped (its hostname call ignores the agent's
 * error and reports only that it found no hostname).
 */
const failure = (e: string) => (/worker process .*restarted/.test(e) ? 'answered with an error naming the restart'
  : /not connected|disappeared|not responding/.test(e) ? 'failed: the agent gone'
  : /no hostname found for domain/.test(e) ? 'failed: libvirt dropped the agent error' : 'failed otherwise');

export function streamOutcome(r: StreamResult, agent: AgentName): Outcome {
  const text = `${r.kills} kills during ${r.calls} calls: ${r.ok} ok, ${r.errors.length} failed${r.errors.length ? ` (${errorSummary(r.errors)})` : ''}` +
    `${r.hung ? `, ${r.hung} HUNG` : '; every call returned'}, the slowest in ${(r.slowestMs / 1000).toFixed(0)} s; ${r.domain}` +
    `${r.reopens ? `; the port reopened ${r.reopens} time(s) (a worker died inside a read or a write of the port)` : ''}` +
    `${r.owed ? `; the supervisor answered the requests in flight at ${r.owed} death(s) with the error naming the restart` : ''}`;
  const kinds = [...new Set(r.errors.map(failure))].sort();
  const key = r.hung ? 'some calls hung' : kinds.length ? kinds.join(', ') : 'every call succeeded';
  // phoenix-ga's supervisor keeps the port: a call may only fail with the answer that names the
  // restart (seen by libvirt, or in the guest's log where libvirt drops it), or as with qemu-ga
  // when the supervisor had to reopen the port.
  const dropped = r.errors.filter((e) => failure(e) === 'failed: libvirt dropped the agent error').length;
  const fair = agent === 'qemu-ga' || kinds.every((k) => k === 'answered with an error naming the restart' ||
    (k === 'failed: the agent gone' && r.reopens > 0) || (k === 'failed: libvirt dropped the agent error' && r.owed >= dropped));
  return { ok: r.hung === 0 && r.kills > 0 && r.domain === 'no domain restart' && fair, text, key };
}

// Busy loops in the guest (bash builtins only, so that the window is not missed while a process
// forks); each prints when it killed, by the guest's clock ($EPOCHREALTIME, also a builtin).
const WATCH_CHILD = (pid: number) => `while :; do for t in /proc/${pid}/task/*/children; do k=; read -r k <$t; for x in $k; do n=; read -r n </proc/$x/comm; ` +
  `[ "$n" = chpasswd ] && { kill -9 ${pid}; echo "at=$EPOCHREALTIME killed ${pid} while chpasswd $x ran"; exit 0; }; done; done; [ $SECONDS -lt 60 ] || exit 1; done`;
const WATCH_SHADOW = (pid: number) => `touch -r /etc/shadow /run/e2e-ref; while ! [ /etc/shadow -nt /run/e2e-ref ]; do [ $SECONDS -lt 60 ] || exit 1; done; ` +
  `kill -9 ${pid}; echo "at=$EPOCHREALTIME killed ${pid} after chpasswd replaced /etc/shadow"`;

const crypt = (pw: string) => `h=$(awk -F: '$1=="root"{print $2}' /etc/shadow); perl -e 'print crypt($ARGV[0], $ARGV[1]) eq $ARGV[1] ? "yes" : "no"' '${pw}' "$h"`;

type When = 'while chpasswd runs' | 'after /etc/shadow was written, before the reply' | 'before it read the request (stopped, then killed)';

/** The longest phoenix-ga may take, from the kill to virsh's error, to count as "at once". */
export const AT_ONCE_MS = 5000;

/** The guest's clock minus the host's, in ms (half a shell round trip of error). */
async function guestOffsetMs(c: Ctx): Promise<number> {
  const h0 = Date.now();
  const g = Number((await c.sh('echo $EPOCHREALTIME')).trim()) * 1000;
  return g - (h0 + Date.now()) / 2;
}

/** What a kill during set-user-password did, in figures (Outcome.data of the step); the next call is domhostname. */
export interface PasswordKill { killToReturnMs: number | null; nextMs: number; nextOk: boolean; nextError: string; replyFirst: boolean }

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const plain = (s: string) => s.replace(/\b\d{3,}\b/g, 'N');

/**
 * `virsh set-user-password` with the agent killed at WHEN, then at once (no wait for the agent)
 * another agent call, which must work: a call libvirt still waited on would hold the domain's agent
 * job and the next would fail with "cannot acquire state change lock". qemu-ga's port is closed
 * until it is restarted, so for qemu-ga a failed next call is tried again once the agent answers.
 * Then a second set-user-password must work.
 */
export function killDuringPassword(when: When): Step {
  return {
    name: `agent killed during set-user-password, ${when}`,
    async run(c) {
      // The kill after /etc/shadow was written can come after the reply (a race the guest's loop
      // cannot always win on a loaded host): such an attempt does not show the step, so it is tried again.
      for (let i = 1; ; i++) {
        const o = await passwordKill(c, when);
        if (!(o.data as PasswordKill).replyFirst || i === 3) return i === 1 ? o : { ...o, text: `${o.text} (attempt ${i}: the reply came before the kill in the earlier ones)` };
      }
    },
  };
}

/** One attempt of killDuringPassword. */
async function passwordKill(c: Ctx, when: When): Promise<Outcome> {
  const before = await fixed(c);
  const pw = `Kill-${Math.random().toString(36).slice(2)}`;
  const pid = await agentPid(c);
  const reopened = await reopens(c);
  // Stopped, it reads nothing; killed 3 s into the call, while libvirt waits for its guest-sync.
  const script = when.startsWith('before') ? `kill -STOP ${pid}; sleep 3; kill -9 ${pid}; echo "at=$EPOCHREALTIME killed ${pid}, stopped since before the call"`
    : when.startsWith('while') ? WATCH_CHILD(pid) : WATCH_SHADOW(pid);
  await c.sh(`(${script}) >/run/e2e-watch 2>/dev/null &`);
  const r = await c.dom.virsh('set-user-password', ['root', pw], 120_000).catch(() => null);
  const returnedAt = Date.now();
  // At once, no wait for the agent: any agent call needs the domain's agent job.
  const next = await c.dom.virsh('domhostname', ['--source', 'agent'], 120_000);
  let later = '';
  let nextWorked = next.code === 0;
  // A worker that died inside a read or a write of the port: the supervisor reopened it, and libvirt
  // reconnects as it does to a restarted qemu-ga.
  const portReopened = (await reopens(c)) > reopened;
  if (!nextWorked && (c.agent === 'qemu-ga' || portReopened)) {
    const waited = await agentAnswers(c);
    const again = await c.dom.virsh('domhostname', ['--source', 'agent'], 120_000);
    nextWorked = again.code === 0;
    later = `; once the agent answered (${secs(waited)} later) ${nextWorked ? 'it worked' : `it FAILED: ${errorText(again)}`}`;
  }
  const offset = await guestOffsetMs(c);
  const watch = (await c.dom.shell('cat /run/e2e-watch')).out.trim();
  const killedAt = Number(/^at=([\d.]+) /.exec(watch)?.[1]) * 1000 - offset;
  const watcher = watch.replace(/^at=[\d.]+ /, '') || 'the watcher did not fire';
  const killToReturnMs = r && Number.isFinite(killedAt) ? returnedAt - killedAt : null;
  const set = (await c.sh(crypt(pw))).trim() === 'yes';
  const pw2 = `After-${Math.random().toString(36).slice(2)}`;
  const r2 = await c.dom.virsh('set-user-password', ['root', pw2], 120_000);
  const set2 = r2.code === 0 && (await c.sh(crypt(pw2))).trim() === 'yes';
  const domain = await sameDomain(c, before);
  const replyFirst = !!r && r.code === 0 && when.startsWith('after') && !/did not fire/.test(watcher);
  const data: PasswordKill = { killToReturnMs, nextMs: next.ms, nextOk: next.code === 0, nextError: next.code === 0 ? '' : errorText(next), replyFirst };
  const first = !r ? 'HUNG' : r.code === 0 ? 'succeeded' : `"${plain(errorText(r))}"`;
  const when2 = killToReturnMs === null ? '' : ` ${secs(killToReturnMs)} after the kill`;
  const text = `virsh: ${first}${when2}; password ${set ? 'was' : 'was not'} set (${plain(watcher)}); ` +
    `the next agent call (domhostname), sent at once: ${next.code === 0 ? `worked in ${secs(next.ms)}` : `"${plain(errorText(next))}"`}${later}; ` +
    `then set-user-password ${set2 ? 'worked' : `FAILED: ${errorText(r2)}`}; ${domain}${portReopened ? '; the port was reopened (the worker died inside a read or a write of the port)' : ''}`;
  const key = !r ? 'hung' : r.code === 0 ? 'succeeded' : plain(errorText(r));
  // phoenix-ga owes the killed call its reply: an error at once, and the next call works at once.
  const owed = r !== null && r.code !== 0;
  const answered = owed && /worker process .*restarted/.test(errorText(r)) && killToReturnMs !== null && killToReturnMs <= AT_ONCE_MS;
  const prompt = c.agent === 'qemu-ga' || portReopened || (next.code === 0 && (!owed || answered));
  return { ok: !!r && nextWorked && set2 && prompt && domain === 'no domain restart' && !/did not fire/.test(watcher), text, key, data };
}

export const killSteps = (): Step[] => [
  killDuringPassword('before it read the request (stopped, then killed)'),
  killDuringPassword('while chpasswd runs'),
  killDuringPassword('after /etc/shadow was written, before the reply'),
];

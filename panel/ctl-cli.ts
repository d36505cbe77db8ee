// phoenix-ga-ctl: the panel's client on the command line.
//   phoenix-ga-ctl --socket PATH [--json] [--timeout SEC] COMMAND [ARGS]
// Mutating commands get an idempotency key and are retried with it; the password is read from a
// prompt or from stdin, never from the command line. What the guest sends reaches the terminal
// only through printable() and safeJson(): no escape sequence of its own gets through.

import * as readline from 'readline';
import { AgentClient, AgentError } from './agent-client';
import { CONFIG_USAGE, humanConfig, setConfigArgs } from './ctl-config';
import { printable, safeJson } from './guest-text';
import { rolloutCommand, UPDATE_USAGE, updateAgent } from './ctl-update';
import { applyNetworkArgs, confirmNetworkArgs, humanNetwork, NETWORK_USAGE } from './ctl-network';

const USAGE = `usage: phoenix-ga-ctl --socket PATH [--json] [--timeout SEC] COMMAND [ARGS]
  --timeout SEC: the whole call (connect, sync, retries, reply); default 5, longer for freeze,
  thaw, fstrim, shutdown and grow-filesystem
commands:
  ping | info | status | osinfo | interfaces | fsinfo | routes
  stats [--since SEQ]                       statistics samples (phoenix-get-stats)
  set-password USER [--crypted]             password from the prompt or stdin
  set-hostname NAME
  add-ip IFACE ADDRESS/PREFIX [--no-persist]
  remove-ip IFACE ADDRESS/PREFIX [--no-persist]
  list-ips [IFACE]                          addresses, what each interface is, the primary ones
${NETWORK_USAGE}  diagnose-login USER                       every reason USER's login can fail, with evidence
  capabilities                              which commands work here, and why the others do not
  grow-filesystem MOUNTPOINT                grow it into its enlarged disk (partition, file system)
  call NAME [JSON-ARGUMENTS] [--mutating]   any command
${CONFIG_USAGE}${UPDATE_USAGE}`;

function readSecret(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) {
    return new Promise((resolve) => { let d = ''; process.stdin.setEncoding('utf8'); process.stdin.on('data', (c) => { d += c; }); process.stdin.on('end', () => resolve(d.replace(/\r?\n$/, ''))); });
  }
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s) => { if (s.includes(prompt)) process.stderr.write(prompt); };
    rl.question(prompt, (a) => { rl.close(); process.stderr.write('\n'); resolve(a); });
  });
}

function cidr(s: string | undefined): { address: string; prefix: number } {
  const m = /^(.+)\/(\d{1,3})$/.exec(s ?? '');
  if (!m) throw new Error(`expected ADDRESS/PREFIX, got '${s ?? ''}'`);
  return { address: m[1], prefix: Number(m[2]) };
}

/** One line (or indented JSON) for a person; every guest string in it is made printable. */
function human(cmd: string, r: unknown): string {
  if (cmd === 'ping') return 'the agent answers';
  if (cmd === 'set-config' || cmd === 'get-config') return humanConfig(cmd, r);
  if (cmd === 'status' || cmd === 'add-ip' || cmd === 'remove-ip') return printable(humanLine(cmd, r));
  if (cmd === 'list-ips') return listIps(r as IpRow[]);
  if (cmd === 'apply-network' || cmd === 'confirm-network' || cmd === 'network-status') return humanNetwork(cmd, r);
  if (cmd === 'diagnose-login') return diagnosis(r as Diagnosis);
  if (cmd === 'capabilities') return capabilities(r as Caps);
  if (cmd === 'grow-filesystem') return grown(r as Grown);
  return safeJson(r, 2);
}

interface IpRow { interface: string; live: string[]; renderer: string | null; persisted: string[] | null; kind?: string | null; real?: boolean; driver?: string | null; primary?: string[] }
interface Diagnosis { username: string; problems: number; findings: Array<{ check: string; status: string; desc: string; evidence?: string[] }> }
interface Caps { commands: Array<{ name: string; enabled: boolean; reasons?: Array<{ kind: string; desc: string }> }>; frozen: boolean; root: string; journal: { desc: string } | null }

interface Sizes { disk_bytes: number | null; partition_bytes: number | null; filesystem_bytes: number | null }
interface Grown { mountpoint: string; type: string; device: string; result: string; before: Sizes; after: Sizes; steps: Array<{ step: string; done: boolean; desc: string }> }

const list = (xs: string[] | null | undefined): string => (xs && xs.length ? xs.join(' ') : '-');

/** One line per interface: what it is, its primary addresses, live and persisted ones. */
function listIps(rows: IpRow[]): string {
  return rows.map((r) => printable(`${r.interface} (${r.kind ?? '?'}${r.driver ? ` ${r.driver}` : ''}${r.real ? ', real' : ''})`
    + `${r.primary && r.primary.length ? ` primary ${list(r.primary)};` : ''} live ${list(r.live)}; `
    + (r.renderer ? `persisted by ${r.renderer}: ${list(r.persisted)}` : 'not persisted'))).join('\n');
}

const RANK: Record<string, number> = { problem: 0, warning: 1, 'not-checked': 2, ok: 3 };

/** Problems first, then warnings, what was not checked, and what is fine; evidence indented below. */
function diagnosis(d: Diagnosis): string {
  const head = `login of '${d.username}': ${d.problems ? `${d.problems} problem${d.problems === 1 ? '' : 's'}` : 'no problem found'}`;
  const sorted = [...d.findings].sort((a, b) => (RANK[a.status] ?? 9) - (RANK[b.status] ?? 9));
  const lines = sorted.flatMap((f) => [`  ${f.status.toUpperCase().padEnd(11)} ${f.check}: ${f.desc}`, ...(f.evidence ?? []).map((e) => `${' '.repeat(14)}${e}`)]);
  return [head, ...lines].map(printable).join('\n');
}

function capabilities(c: Caps): string {
  const off = c.commands.filter((x) => !x.enabled);
  const width = Math.max(0, ...off.map((x) => x.name.length));
  const lines = off.flatMap((x) => (x.reasons ?? []).map((r, i) => `  ${(i ? '' : x.name).padEnd(width)}  ${r.kind}: ${r.desc}`));
  const state = `root ${c.root}, file systems ${c.frozen ? 'frozen' : 'thawed'}, journal ${c.journal ? 'refuses records' : 'ok'}`;
  return [`${c.commands.length - off.length} of ${c.commands.length} commands work here; ${state}`, ...(off.length ? ['not working:', ...lines] : [])].map(printable).join('\n');
}

/** The result with each size before -> after, then one line per step. */
function grown(g: Grown): string {
  const size = (k: keyof Sizes) => (g.before[k] === null ? null : `${k.split('_')[0]} ${g.before[k]}${g.after[k] !== g.before[k] ? ` -> ${g.after[k]}` : ''}`);
  const sizes = (['disk_bytes', 'partition_bytes', 'filesystem_bytes'] as const).map(size).filter(Boolean).join(', ');
  const steps = g.steps.map((s) => `  ${(s.done ? 'DONE' : 'UNCHANGED').padEnd(10)} ${s.step}: ${s.desc}`);
  return [`${g.mountpoint} (${g.type} on ${g.device}): ${g.result}; bytes: ${sizes}`, ...steps].map(printable).join('\n');
}

function humanLine(cmd: string, r: unknown): string {
  if (cmd === 'status') {
    const s = r as { sup: { pid: number; ver: string }; worker: { state: string; pid: number | null; gen: number }; restarts: { total: number }; last_exit: { reason: string } | null; channel: { kind: string; state: string }; clock?: { heal: string; last: { result: string; step_ms: number; at: string } | null } };
    const fix = s.clock?.last ? ` (last ${s.clock.last.result} ${s.clock.last.step_ms / 1000} s at ${s.clock.last.at})` : '';
    return `phoenix-ga ${s.sup.ver}: supervisor ${s.sup.pid}, worker ${s.worker.state} (pid ${s.worker.pid}, generation ${s.worker.gen}), ${s.restarts.total} restarts${s.last_exit ? `, last exit ${s.last_exit.reason}` : ''}, channel ${s.channel.kind} ${s.channel.state}${s.clock ? `, clock healing ${s.clock.heal}${fix}` : ''}`;
  }
  if (cmd === 'add-ip' || cmd === 'remove-ip') {
    const a = r as { interface: string; address: string; prefix: number; live: string; persisted: { renderer: string; file: string; action: string } | null };
    return `${a.address}/${a.prefix} on ${a.interface}: live ${a.live}; ${a.persisted ? `${a.persisted.renderer} ${a.persisted.file}: ${a.persisted.action}` : 'not persisted'}`;
  }
  return '';
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const flag = (n: string) => { const i = argv.indexOf(`--${n}`); if (i < 0) return undefined; const v = argv[i + 1]; argv.splice(i, 2); return v; };
  const bool = (n: string) => { const i = argv.indexOf(`--${n}`); if (i < 0) return false; argv.splice(i, 1); return true; };
  const socket = flag('socket');
  const timeout = flag('timeout');
  const json = bool('json');
  const crypted = bool('crypted');
  const noPersist = bool('no-persist');
  const mutating = bool('mutating');
  const since = flag('since');
  const keyFile = flag('key-file');
  const releaseDir = flag('release');
  const windowS = flag('window');
  const net = { gateway: flag('gateway'), within: flag('confirm-within'), target: flag('check'), checkGateway: bool('check-gateway'), noPersist };
  const [cmd, ...rest] = argv;
  // Many agents, each by its own socket from the targets file.
  if (cmd === 'rollout' && !bool('help')) {
    return rolloutCommand(releaseDir, windowS, flag, json).catch((e: Error) => { process.stderr.write(`phoenix-ga-ctl: ${printable(e.message)}\n`); return 2; });
  }
  if (!socket || !cmd || bool('help')) { process.stderr.write(USAGE); return socket && cmd ? 0 : 2; }
  if (timeout !== undefined && !(Number(timeout) > 0 && Number(timeout) <= 86_400)) {
    process.stderr.write(`phoenix-ga-ctl: --timeout: expected seconds from 0.001 to 86400, got '${printable(timeout)}'\n`);
    return 2;
  }
  const client = new AgentClient({ path: socket });
  const t = timeout ? { timeoutMs: Math.max(1, Math.round(Number(timeout) * 1000)) } : {};
  const simple: Record<string, string> = { ping: 'guest-ping', info: 'guest-info', status: 'phoenix-agent-status', osinfo: 'guest-get-osinfo', interfaces: 'guest-network-get-interfaces', fsinfo: 'guest-get-fsinfo', routes: 'guest-network-get-route' };
  try {
    let r: unknown;
    if (simple[cmd]) r = await client.call(simple[cmd], undefined, t);
    else if (cmd === 'stats') r = await client.call('phoenix-get-stats', since ? { since: Number(since) } : {}, t);
    else if (cmd === 'set-password') {
      if (!rest[0]) throw new Error('set-password needs a user name');
      const pw = await readSecret(`password for ${rest[0]}: `);
      r = await client.call('guest-set-user-password', { username: rest[0], password: Buffer.from(pw).toString('base64'), crypted }, { ...t, mutating: true });
    } else if (cmd === 'set-hostname') r = await client.call('phoenix-set-hostname', { hostname: rest[0] }, { ...t, mutating: true });
    else if (cmd === 'add-ip' || cmd === 'remove-ip') r = await client.call(`phoenix-${cmd}`, { interface: rest[0], ...cidr(rest[1]), persist: !noPersist }, { ...t, mutating: true });
    else if (cmd === 'apply-network') r = await client.call('phoenix-apply-network', applyNetworkArgs(rest, net), { ...t, mutating: true });
    // The reachability check may wait for address resolution: more time than a read.
    else if (cmd === 'confirm-network') r = await client.call('phoenix-confirm-network', confirmNetworkArgs(rest, net), { timeoutMs: 20_000, ...t, mutating: true });
    else if (cmd === 'network-status') r = await client.call('phoenix-network-status', undefined, t);
    else if (cmd === 'list-ips') r = await client.call('phoenix-list-ips', rest[0] ? { interface: rest[0] } : {}, t);
    else if (cmd === 'diagnose-login') {
      if (!rest[0]) throw new Error('diagnose-login needs a user name');
      // It runs sshd -T, nft and the like: more time than a read.
      r = await client.call('phoenix-diagnose-login', { username: rest[0] }, { timeoutMs: 30_000, ...t });
    } else if (cmd === 'capabilities') r = await client.call('phoenix-capabilities', undefined, t);
    else if (cmd === 'grow-filesystem') {
      if (!rest[0]) throw new Error('grow-filesystem needs a mount point');
      r = await client.call('phoenix-grow-filesystem', { mountpoint: rest[0] }, { ...t, mutating: true });
    }
    else if (cmd === 'set-config') r = await client.call('phoenix-set-config', setConfigArgs(rest, keyFile), { ...t, mutating: true });
    else if (cmd === 'get-config') r = await client.call('phoenix-get-config', undefined, t);
    else if (cmd === 'update') {
      if (!releaseDir) throw new Error('update needs --release DIR');
      const u = await updateAgent(client, releaseDir, windowS ? Number(windowS) : undefined, (l) => { if (!json) process.stderr.write(`${printable(l)}\n`); });
      process.stdout.write((json ? safeJson(u) : u.line) + '\n');
      return u.ok ? 0 : 1;
    } else if (cmd === 'call') r = await client.call(rest[0], rest[1] ? JSON.parse(rest[1]) : undefined, { ...t, mutating });
    else { process.stderr.write(`unknown command '${cmd}'\n${USAGE}`); return 2; }
    process.stdout.write((json ? safeJson(r) : human(cmd, r)) + '\n');
    return 0;
  } catch (e) {
    const msg = e instanceof AgentError ? `${e.cls}: ${e.desc}` : (e as Error).message;
    process.stderr.write(json ? safeJson({ error: msg }) + '\n' : `phoenix-ga-ctl: ${printable(msg)}\n`);
    return e instanceof AgentError ? 1 : 3;
  } finally {
    client.close();
  }
}

main().then((code) => process.exit(code));

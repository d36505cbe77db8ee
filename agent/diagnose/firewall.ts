// Firewall rules that drop or reject the SSH ports, read-only: `nft list ruleset` and
// `iptables-save` / `ip6tables-save` when installed. A textual reading of the input chains: rules
// that name the port and drop or reject it, and a drop policy with no rule accepting the port.
// Jumps to other chains and named sets are not followed (said in the finding).

import type { System } from '../os/system';
import { Finding, notChecked, ok, problem, warning } from './finding';

/** Ports a rule's dport expression names: "22", "{ 22, 2222 }", "20-30", "ssh", "22,80", "1000:2000". */
export function portsMatch(expr: string, port: number): boolean {
  return expr.replace(/[{}]/g, ' ').split(/[\s,]+/).filter(Boolean).some((t) => {
    if (t === 'ssh') return port === 22;
    const m = /^(\d+)(?:[-:](\d+))?$/.exec(t);
    return !!m && port >= Number(m[1]) && port <= Number(m[2] ?? m[1]);
  });
}

interface Verdict { drops: string[]; accepts: string[]; dropPolicies: string[] }

export function readNft(text: string, port: number): Verdict {
  const v: Verdict = { drops: [], accepts: [], dropPolicies: [] };
  let table = '', chain = '', input = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^table (\S+ \S+) \{/.exec(line))) { table = m[1]; continue; }
    if ((m = /^chain (\S+) \{/.exec(line))) { chain = m[1]; input = false; continue; }
    if (/hook input\b/.test(line)) {
      input = true;
      if (/policy drop/.test(line)) v.dropPolicies.push(`nft ${table} ${chain}: policy drop`);
      continue;
    }
    if (!input) continue;
    const d = /\bdport (\{[^}]*\}|\S+)/.exec(line);
    if (!d || !portsMatch(d[1], port)) continue;
    const where = `nft ${table} ${chain}: ${line.replace(/ counter packets \d+ bytes \d+/, '')}`;
    if (/\b(drop|reject)\b/.test(line)) v.drops.push(where);
    else if (/\baccept\b/.test(line)) v.accepts.push(where);
  }
  return v;
}

export function readIptablesSave(text: string, port: number, tool: string): Verdict {
  const v: Verdict = { drops: [], accepts: [], dropPolicies: [] };
  let table = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) { table = line.slice(1); continue; }
    if (table !== 'filter') continue;
    if (/^:INPUT DROP\b/.test(line)) v.dropPolicies.push(`${tool}: :INPUT DROP (policy)`);
    if (!line.startsWith('-A INPUT ')) continue;
    const d = /--dports? (\S+)/.exec(line);
    if (!d || !portsMatch(d[1], port)) continue;
    if (/-j (DROP|REJECT)\b/.test(line)) v.drops.push(`${tool}: ${line}`);
    else if (/-j ACCEPT\b/.test(line)) v.accepts.push(`${tool}: ${line}`);
  }
  return v;
}

function judge(v: Verdict, port: number, source: string): Finding {
  if (v.drops.length) return problem('firewall', `${source}: rules drop or reject port ${port}${v.accepts.length ? ' (some accept it too, for some sources: order decides)' : ''}`, [...v.drops, ...v.accepts]);
  if (v.dropPolicies.length && !v.accepts.length) return problem('firewall', `${source}: the input policy is drop and no rule accepts port ${port} (rules in other chains or sets are not followed)`, v.dropPolicies);
  if (v.accepts.length) return ok('firewall', `${source}: port ${port} is accepted`, v.accepts);
  return ok('firewall', `${source}: no rule names port ${port} and no input policy drops it`);
}

export async function firewallFindings(sys: System, ports: number[]): Promise<Finding[]> {
  const out: Finding[] = [];
  const run = async (tool: string, args: string[]): Promise<string | Finding> => {
    const path = sys.which(tool);
    if (!path) return notChecked('firewall', `not checked: ${tool} is not installed`);
    const r = await sys.run(path, args, { timeoutMs: 10_000, maxOutput: 1 << 20 });
    if (r.code !== 0) return warning('firewall', `${tool} ${args.join(' ')} failed: ${r.stderr.trim().split('\n')[0]?.slice(0, 200) ?? r.code}`);
    return r.stdout;
  };
  const nft = await run('nft', ['list', 'ruleset']);
  const ipt = await run('iptables-save', []);
  const ip6t = await run('ip6tables-save', []);
  for (const [text, name, read] of [[nft, 'nftables', readNft], [ipt, 'iptables', (t: string, p: number) => readIptablesSave(t, p, 'iptables-save')], [ip6t, 'ip6tables', (t: string, p: number) => readIptablesSave(t, p, 'ip6tables-save')]] as const) {
    if (typeof text !== 'string') { out.push(text); continue; }
    for (const p of ports) out.push(judge(read(text, p), p, name));
  }
  return out;
}

// `phoenix-ga status`: the supervisor's view for a person at the console, read from the state
// file (no connection to the service needed, so it works while the worker is down).

import { processStartTime, pssAnonKb } from './proc';
import { monotonicMs, PersistedState } from './state-store';

function ago(ms: number): string {
  if (ms < 1000) return `${ms} ms ago`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s ago`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min ago`;
  return `${(ms / 3_600_000).toFixed(1)} h ago`;
}

function alive(pid: number | null): boolean {
  return pid !== null && processStartTime(pid) !== null;
}

export function formatStatus(s: PersistedState | null, runDir: string): { text: string; running: boolean } {
  if (!s) return { text: `phoenix-ga: not running (no state in ${runDir})\n`, running: false };
  const now = monotonicMs();
  const supAlive = alive(s.supervisor.pid);
  const lines: string[] = [];
  lines.push(`phoenix-ga ${s.supervisor.version}: supervisor ${supAlive ? `running, pid ${s.supervisor.pid}` : `NOT running (last pid ${s.supervisor.pid})`}`);
  if (supAlive) lines.push(`  up ${ago(now - s.supervisor.started_mono).replace(' ago', '')}, memory ${pssAnonKb(s.supervisor.pid) ?? '?'} KiB anon`);
  const w = s.worker;
  const wAlive = alive(w.pid);
  lines.push(`worker: ${w.state}${wAlive ? `, pid ${w.pid}` : ''}, generation ${w.generation}${wAlive ? `, memory ${pssAnonKb(w.pid!) ?? '?'} KiB anon` : ''}`);
  lines.push(`channel: ${s.channel.kind}:${s.channel.path} (${s.channel.state})`);
  lines.push(`heartbeat: ${s.heartbeat.enabled ? `on, every ${s.heartbeat.interval_ms / 1000} s` : 'off'}`);
  lines.push(`restarts: ${s.restarts_total} in total, ${s.restart.failures} consecutive failures`);
  const recent = s.deaths.slice(-5).reverse();
  if (recent.length) {
    lines.push('last exits:');
    for (const d of recent) {
      const how = d.reason === 'signal' && d.signal === 'SIGKILL' ? 'killed (SIGKILL), cause unknown' : d.signal ? `signal ${d.signal}` : `code ${d.code}`;
      lines.push(`  ${d.at}  ${d.reason.padEnd(10)} ${how}, lived ${d.lifetime_ms} ms (generation ${d.generation})`);
    }
  }
  lines.push(`state file updated ${ago(Math.max(0, now - s.updated_mono))}`);
  return { text: lines.join('\n') + '\n', running: supAlive };
}

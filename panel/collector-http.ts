// The collector's table over HTTP (loopback by default), read-only:
//   GET /vms[?state=a,b][&since=N]   the table as JSON, with `rev`, the latest change number
//   GET /vms/ID                      one VM
//   GET /events[?state=a,b][&since=N] state changes as server-sent events (change-feed.ts)
//   GET /sources                     refused datagrams by source address
//   GET /versions                    the fleet by version and by how its last update ended (fleet.ts)
//   GET /metrics                     Prometheus text exposition
// Every value comes from checked heartbeats (heartbeat-payload.ts); JSON goes through safeJson and
// label values through promLabel all the same, so no guest byte can break a document or a line.

import * as http from 'http';
import { ID_PATTERN } from '../supervisor/heartbeat-packet';
import { ChangeFeed } from './change-feed';
import { fleetMetrics, fleetOf } from './fleet';
import { promLabel, safeJson } from './guest-text';
import type { HeartbeatReceiver } from './heartbeat-receiver';
import { VM_STATES } from './vm-state';

export const MAX_HTTP_CONNECTIONS = 256;

export function metricsText(r: HeartbeatReceiver): string {
  const out: string[] = [];
  const views = r.views();
  out.push('# HELP phoenix_ga_vm_state 1 for the state each VM is in now.', '# TYPE phoenix_ga_vm_state gauge');
  for (const v of views) out.push(`phoenix_ga_vm_state{vm="${promLabel(v.vmId)}",state="${promLabel(v.state)}"} 1`);
  out.push('# HELP phoenix_ga_last_heartbeat_age_seconds Age of the last authentic heartbeat.', '# TYPE phoenix_ga_last_heartbeat_age_seconds gauge');
  for (const v of views) if (v.lastBeatAgoMs !== null) out.push(`phoenix_ga_last_heartbeat_age_seconds{vm="${promLabel(v.vmId)}"} ${(v.lastBeatAgoMs / 1000).toFixed(3)}`);
  out.push('# HELP phoenix_ga_worker_restarts_total Worker deaths the supervisor counted.', '# TYPE phoenix_ga_worker_restarts_total counter');
  for (const v of views) if (v.payload) out.push(`phoenix_ga_worker_restarts_total{vm="${promLabel(v.vmId)}"} ${v.payload.restarts.total}`);
  out.push('# HELP phoenix_ga_memory_anon_bytes Anonymous memory of the agent processes.', '# TYPE phoenix_ga_memory_anon_bytes gauge');
  for (const v of views) {
    if (!v.payload) continue;
    out.push(`phoenix_ga_memory_anon_bytes{vm="${promLabel(v.vmId)}",process="supervisor"} ${v.payload.sup.anon_kb * 1024}`);
    if (v.payload.worker.anon_kb !== null) out.push(`phoenix_ga_memory_anon_bytes{vm="${promLabel(v.vmId)}",process="worker"} ${v.payload.worker.anon_kb * 1024}`);
  }
  out.push('# HELP phoenix_ga_datagrams_total Datagrams received, by verdict.', '# TYPE phoenix_ga_datagrams_total counter');
  for (const [k, n] of Object.entries(r.counters)) out.push(`phoenix_ga_datagrams_total{result="${promLabel(k)}"} ${n}`);
  out.push(...fleetMetrics(views));
  return out.join('\n') + '\n';
}

/** ?state=a,b and ?since=N, checked; an error names the bad value and what was expected. */
function filters(q: URLSearchParams): { states: Set<string> | null; since: number | null } | string {
  const state = q.get('state');
  const since = q.get('since');
  const states = state === null ? null : new Set(state.split(','));
  for (const s of states ?? []) if (!(VM_STATES as readonly string[]).includes(s)) return `state: '${s.slice(0, 40)}' is not one of ${VM_STATES.join(', ')}`;
  if (since !== null && !/^\d{1,15}$/.test(since)) return `since: '${since.slice(0, 40)}' is not a change number (the rev of an earlier reply)`;
  return { states, since: since === null ? null : Number(since) };
}

export function startCollectorHttp(r: HeartbeatReceiver, host: string, port: number): Promise<http.Server> {
  const feed = new ChangeFeed(r);
  const json = (res: http.ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(safeJson(body) + '\n');
  const server = http.createServer((req, res) => {
    try {
      route(req, res);
    } catch (e) {
      // A request line that no URL parser takes (e.g. a bad %-escape): the client's mistake.
      json(res, 400, { error: `bad request: ${(e as Error).message}` });
    }
  });
  const route = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (req.method !== 'GET') { json(res, 405, { error: `method ${req.method} not allowed: the collector is read-only` }); return; }
    const url = new URL(req.url ?? '/', 'http://collector');
    const f = filters(url.searchParams);
    if (typeof f === 'string') { json(res, 400, { error: f }); return; }
    const path = url.pathname;
    if (path === '/metrics') { res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metricsText(r)); return; }
    if (path === '/vms' || path === '/') {
      const vms = r.views().filter((v) => (!f.states || f.states.has(v.state)) && (f.since === null || v.rev > f.since));
      json(res, 200, { rev: r.rev, vms, counters: r.counters });
      return;
    }
    if (path.startsWith('/vms/')) {
      const id = decodeURIComponent(path.slice(5));
      const v = ID_PATTERN.test(id) ? r.view(id) : null;
      if (v) json(res, 200, v); else json(res, 404, { error: ID_PATTERN.test(id) ? `no VM '${id}' in the key file` : 'a VM id is 1 to 64 of [A-Za-z0-9._:-]' });
      return;
    }
    if (path === '/events') { feed.serve(req, res, f.states, f.since); return; }
    if (path === '/sources') { json(res, 200, { sources: r.sources.list() }); return; }
    if (path === '/versions') { json(res, 200, fleetOf(r.views())); return; }
    json(res, 404, { error: 'no such path: try /vms, /vms/ID, /events, /sources, /versions, /metrics' });
  };
  server.maxConnections = MAX_HTTP_CONNECTIONS;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.on('close', () => feed.close());
  return new Promise((resolve, reject) => { server.once('error', reject); server.listen(port, host, () => resolve(server)); });
}

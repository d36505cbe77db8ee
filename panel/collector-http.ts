// The collector's table over HTTP (loopback by default): /vms as JSON, /metrics as Prometheus text
// exposition, so existing monitoring can scrape it. Read-only; every value comes from verified
// heartbeats, and label values are escaped (VM ids are checked, but the rule holds for any text).

import * as http from 'http';
import type { HeartbeatReceiver } from './heartbeat-receiver';

const label = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function metricsText(r: HeartbeatReceiver): string {
  const out: string[] = [];
  const views = r.views();
  out.push('# HELP phoenix_ga_vm_state 1 for the state each VM is in now.', '# TYPE phoenix_ga_vm_state gauge');
  for (const v of views) out.push(`phoenix_ga_vm_state{vm="${label(v.vmId)}",state="${v.state}"} 1`);
  out.push('# HELP phoenix_ga_last_heartbeat_age_seconds Age of the last authentic heartbeat.', '# TYPE phoenix_ga_last_heartbeat_age_seconds gauge');
  for (const v of views) if (Number.isFinite(v.lastBeatAgoMs)) out.push(`phoenix_ga_last_heartbeat_age_seconds{vm="${label(v.vmId)}"} ${(v.lastBeatAgoMs / 1000).toFixed(3)}`);
  out.push('# HELP phoenix_ga_worker_restarts_total Worker deaths the supervisor counted.', '# TYPE phoenix_ga_worker_restarts_total counter');
  for (const v of views) if (v.payload) out.push(`phoenix_ga_worker_restarts_total{vm="${label(v.vmId)}"} ${v.payload.restarts.total}`);
  out.push('# HELP phoenix_ga_memory_anon_bytes Anonymous memory of the agent processes.', '# TYPE phoenix_ga_memory_anon_bytes gauge');
  for (const v of views) {
    if (!v.payload) continue;
    out.push(`phoenix_ga_memory_anon_bytes{vm="${label(v.vmId)}",process="supervisor"} ${v.payload.sup.anon_kb * 1024}`);
    if (v.payload.worker.anon_kb !== null) out.push(`phoenix_ga_memory_anon_bytes{vm="${label(v.vmId)}",process="worker"} ${v.payload.worker.anon_kb * 1024}`);
  }
  out.push('# HELP phoenix_ga_datagrams_total Datagrams received, by verdict.', '# TYPE phoenix_ga_datagrams_total counter');
  for (const [k, n] of Object.entries(r.counters)) out.push(`phoenix_ga_datagrams_total{result="${k}"} ${n}`);
  return out.join('\n') + '\n';
}

export function startCollectorHttp(r: HeartbeatReceiver, host: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET') { res.writeHead(405).end(); return; }
    if (req.url === '/metrics') { res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metricsText(r)); return; }
    if (req.url === '/vms' || req.url === '/') { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ vms: r.views(), counters: r.counters })); return; }
    res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => { server.once('error', reject); server.listen(port, host, () => resolve(server)); });
}

// Whether an address answers from this server, before a network change is confirmed. With ping
// installed: two echo requests. Without it, an address on a connected subnet (a gateway always
// is) is checked by neighbour resolution: the stale entry is flushed, one datagram makes the
// kernel send ARP or neighbour solicitations, and the entry must become REACHABLE (the address
// answered) before it becomes FAILED. An address beyond a gateway cannot be checked without ping.

import type * as dgramModule from 'dgram';
import net = require('net');
import type { System } from '../os/system';
import { routeTo } from './routes';

export type Reach = { reachable: true; how: string } | { reachable: false; why: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One datagram to the discard port: only the kernel's resolution of the next hop matters. */
function nudge(target: string): Promise<void> {
  const dgram = require('dgram') as typeof dgramModule;
  return new Promise((resolve) => {
    const s = dgram.createSocket(net.isIPv6(target) ? 'udp6' : 'udp4');
    s.on('error', () => { s.close(); resolve(); });
    s.send(Buffer.from([0]), 9, target, () => { s.close(); resolve(); });
  });
}

async function neighbour(sys: System, ip: string, target: string, dev: string, timeoutMs: number): Promise<Reach> {
  await sys.run(ip, ['neigh', 'flush', 'to', target, 'dev', dev], { timeoutMs: 5000 });
  await nudge(target);
  const end = Date.now() + timeoutMs;
  let state = 'none';
  while (Date.now() < end) {
    const r = await sys.run(ip, ['-o', 'neigh', 'show', 'to', target, 'dev', dev], { timeoutMs: 5000 });
    state = /\b(REACHABLE|PERMANENT|NOARP|STALE|DELAY|PROBE|FAILED|INCOMPLETE)\b/.exec(r.stdout)?.[1] ?? 'none';
    if (state === 'REACHABLE' || state === 'PERMANENT' || state === 'NOARP') return { reachable: true, how: `neighbour ${state.toLowerCase()} on ${dev}` };
    if (state === 'FAILED') break;
    await sleep(100);
  }
  return { reachable: false, why: `${target} did not answer address resolution on ${dev} (neighbour ${state.toLowerCase()})` };
}

export async function checkReachable(sys: System, target: string, timeoutMs = 4000): Promise<Reach> {
  const route = await routeTo(sys, target);
  if (!route) return { reachable: false, why: `there is no route to ${target}` };
  const ping = sys.which('ping');
  if (ping) {
    const r = await sys.run(ping, ['-n', '-q', '-c', '2', '-W', '2', '--', target], { timeoutMs: timeoutMs + 4000 });
    return r.code === 0 ? { reachable: true, how: `ping through ${route.dev}` } : { reachable: false, why: `${target} did not answer ping through ${route.dev}${r.stderr.trim() ? ` (${r.stderr.trim().slice(0, 200)})` : ''}` };
  }
  if (route.via) return { reachable: false, why: `cannot check ${target}: it is reached through ${route.via} and ping is not installed (check the gateway instead)` };
  return neighbour(sys, sys.which('ip')!, target, route.dev, timeoutMs);
}

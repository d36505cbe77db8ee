// What the service was started with (by systemd, init or a shell): its environment and working
// directory, read from the supervisor's /proc entry, and a service's umask, 022. qemu-ga hands its
// own to every guest-exec child; the worker's are not that (a minimal environment, umask 077), and
// the supervisor sets 077 for itself, so these stand in. PHOENIX_GA_* variables are not passed on,
// nor the malloc settings the launcher gives the agent's own processes.

import type { Host } from '../os/host';

export interface ServiceStart {
  env: NodeJS.ProcessEnv;
  umask: number;
  cwd: string;
}

/** The agent's own: its settings, and the malloc tuning of its processes (see init/phoenix-ga.sh). */
const agentOwn = (name: string): boolean => name.startsWith('PHOENIX_GA_') || name === 'MALLOC_ARENA_MAX' || name === 'MALLOC_MMAP_THRESHOLD_';

export function parseEnviron(raw: Buffer): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const kv of raw.toString('utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0 && !agentOwn(kv.slice(0, i))) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}

export function serviceStart(host: Host, pid = process.ppid): ServiceStart {
  const raw = host.readBytes(`/proc/${pid}/environ`);
  const own = Object.fromEntries(Object.entries(process.env).filter(([k]) => !agentOwn(k)));
  return {
    env: raw ? parseEnviron(raw) : own,
    // systemd's default UMask= for services (and sysvinit's): what qemu-ga's children get.
    umask: 0o022,
    cwd: cwdOf(host, pid),
  };
}

function cwdOf(host: Host, pid: number): string {
  const cwd = host.link(`/proc/${pid}/cwd`);
  return cwd && cwd.startsWith('/') && host.exists(cwd) ? cwd : '/';
}

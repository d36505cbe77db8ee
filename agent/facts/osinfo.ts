// guest-get-osinfo: uname fields and os-release(5), as qemu-ga; when an old distribution has no
// os-release, the same fields from /etc/redhat-release, /etc/lsb-release or /etc/debian_version
// (qemu-ga then returns the uname fields only). Keys without a value are left out, as qemu-ga does.

import os = require('os');
import type { Host } from '../os/host';
import { RawJson, writeJson } from '../wire/json-write';

export interface OsInfo {
  'kernel-release'?: string;
  'kernel-version'?: string;
  machine?: string;
  id?: string;
  name?: string;
  'pretty-name'?: string;
  version?: string;
  'version-id'?: string;
  variant?: string;
  'variant-id'?: string;
}

/** os-release(5): KEY=value lines, values optionally quoted with shell escapes. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2].trim();
    const q = v[0];
    if ((q === '"' || q === "'") && v.endsWith(q) && v.length >= 2) {
      v = v.slice(1, -1);
      if (q === '"') v = v.replace(/\\(["\\`$])/g, '$1');
    }
    out[m[1]] = v;
  }
  return out;
}

const OS_RELEASE_KEYS: Array<[string, keyof OsInfo]> = [
  ['ID', 'id'], ['NAME', 'name'], ['PRETTY_NAME', 'pretty-name'], ['VERSION', 'version'],
  ['VERSION_ID', 'version-id'], ['VARIANT', 'variant'], ['VARIANT_ID', 'variant-id'],
];

/** "CentOS release 6.10 (Final)", "Red Hat Enterprise Linux Server release 7.9 (Maipo)". */
export function fromRedhatRelease(text: string): OsInfo | null {
  const line = text.split('\n')[0].trim();
  const m = /^(.*?) release ([0-9][0-9.]*)\s*(?:\((.*)\))?/.exec(line);
  if (!m) return null;
  const name = m[1];
  const id = /centos/i.test(name) ? 'centos' : /red hat/i.test(name) ? 'rhel' : /fedora/i.test(name) ? 'fedora'
    : /scientific/i.test(name) ? 'scientific' : /cloudlinux/i.test(name) ? 'cloudlinux' : name.toLowerCase().split(' ')[0];
  return { id, name, 'pretty-name': line, version: m[3] ? `${m[2]} (${m[3]})` : m[2], 'version-id': m[2] };
}

/** Ubuntu 14.04 and others before os-release: DISTRIB_ID, DISTRIB_RELEASE, DISTRIB_DESCRIPTION. */
export function fromLsbRelease(text: string): OsInfo | null {
  const v = parseOsRelease(text);
  if (!v.DISTRIB_ID) return null;
  return {
    id: v.DISTRIB_ID.toLowerCase(), name: v.DISTRIB_ID,
    ...(v.DISTRIB_DESCRIPTION ? { 'pretty-name': v.DISTRIB_DESCRIPTION } : {}),
    ...(v.DISTRIB_RELEASE ? { 'version-id': v.DISTRIB_RELEASE, version: v.DISTRIB_CODENAME ? `${v.DISTRIB_RELEASE} (${v.DISTRIB_CODENAME})` : v.DISTRIB_RELEASE } : {}),
  };
}

/** /etc/debian_version holds "7.11" (or "bookworm/sid" on testing). */
export function fromDebianVersion(text: string): OsInfo | null {
  const v = text.trim();
  if (!v) return null;
  const major = /^(\d+)/.exec(v)?.[1];
  return { id: 'debian', name: 'Debian GNU/Linux', 'pretty-name': `Debian GNU/Linux ${v}`, version: v, ...(major ? { 'version-id': major } : {}) };
}

const MACHINE: Record<string, string> = { x64: 'x86_64', ia32: 'i686', arm64: 'aarch64', arm: 'armv7l', ppc64: 'ppc64le', s390x: 's390x' };

/** The running kernel cannot change without a reboot (a new worker): read once per host. */
const kernels = new WeakMap<Host, OsInfo>();
/**
 * The reply, serialized, by the identity of the os-release it came from: an upgrade writes a new
 * file (or rewrites it: another size or change time), so one stat per call says whether to read again.
 */
const releases = new WeakMap<Host, { path: string; id: string; reply: RawJson }>();

function kernelInfo(host: Host): OsInfo {
  let info = kernels.get(host);
  if (info) return info;
  info = {};
  const release = host.read('/proc/sys/kernel/osrelease')?.trim();
  const version = host.read('/proc/sys/kernel/version')?.trim();
  if (release) info['kernel-release'] = release;
  if (version) info['kernel-version'] = version;
  info.machine = (os as unknown as { machine?: () => string }).machine?.() ?? MACHINE[process.arch] ?? process.arch;
  kernels.set(host, info);
  return info;
}

export function osInfo(host: Host): OsInfo | RawJson {
  const info = kernelInfo(host);
  const known = releases.get(host);
  const preferred = '/etc/os-release';
  if (known && host.identity(known.path) === known.id && (known.path === preferred || host.identity(preferred) === null)) return known.reply;
  for (const p of [preferred, '/usr/lib/os-release']) {
    const id = host.identity(p);
    const osRelease = id === null ? null : host.read(p);
    if (osRelease === null) continue;
    const v = parseOsRelease(osRelease);
    const rel: OsInfo = {};
    for (const [k, field] of OS_RELEASE_KEYS) if (v[k] !== undefined) rel[field] = v[k];
    const reply = new RawJson(writeJson({ ...info, ...rel }));
    releases.set(host, { path: p, id: id!, reply });
    return reply;
  }
  const rh = host.read('/etc/redhat-release');
  const lsb = host.read('/etc/lsb-release');
  const deb = host.read('/etc/debian_version');
  const fallback = (rh && fromRedhatRelease(rh)) || (lsb && fromLsbRelease(lsb)) || (deb && fromDebianVersion(deb)) || {};
  return { ...info, ...fallback };
}

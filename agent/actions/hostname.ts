// phoenix-set-hostname: the kernel's host name (live, in the agent's UTS namespace) and the files
// that carry it across a reboot (/etc/hostname, the 127.0.1.1 line of /etc/hosts). Checked as
// systemd's hostname_is_valid does, so nothing can be injected into /etc/hosts; and, as RFC 1123
// asks, never in a form a resolver reads as an address (1.2.3.4, or inet_aton's 127.1 and 0x7f.1).

import type { System } from '../os/system';
import { QgaError } from '../wire/reply';

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** Linux HOST_NAME_MAX. */
const MAX = 64;
const RESERVED = new Set(['localhost', 'localhost.localdomain', 'localhost4', 'localhost6', 'ip6-localhost', 'ip6-loopback']);
/** A number as inet_aton reads one part of an address: decimal, octal (0...) or hex (0x...). */
const INET_PART = /^(?:0[xX][0-9a-fA-F]*|[0-9]+)$/;

export function checkHostname(name: string): void {
  const bad = (why: string): never => { throw new QgaError('GenericError', `Parameter 'hostname' ${why}`); };
  if (name.length === 0 || name.length > MAX) bad(`must be 1 to ${MAX} characters, got ${name.length}`);
  if (name.endsWith('.')) bad('must not end with a dot');
  for (const label of name.split('.')) {
    if (!LABEL.test(label)) bad('must be labels of letters, digits and inner hyphens (1-63 each) separated by single dots');
  }
  if (RESERVED.has(name.toLowerCase())) bad(`'${name}' is reserved for the loopback address`);
  const labels = name.split('.');
  if (labels.length <= 4 && labels.every((l) => INET_PART.test(l))) bad(`'${name}' reads as an IPv4 address; expected a name with a letter in its last label`);
  if (/^[0-9]+$/.test(labels[labels.length - 1])) bad(`'${name}' ends in an all-numeric label; expected a letter in the last label (RFC 1123)`);
}

/** The /etc/hosts text with our name on 127.0.1.1 (Debian's convention), other lines as they were. */
export function hostsWithName(hosts: string, name: string): string {
  const short = name.split('.')[0];
  const entry = `127.0.1.1\t${name}${short !== name ? ` ${short}` : ''}`;
  const lines = hosts.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const i = lines.findIndex((l) => /^\s*127\.0\.1\.1\s/.test(l));
  if (i >= 0) lines[i] = entry;
  else {
    const afterLocal = lines.findIndex((l) => /^\s*127\.0\.0\.1\s/.test(l));
    lines.splice(afterLocal >= 0 ? afterLocal + 1 : 0, 0, entry);
  }
  return lines.join('\n') + '\n';
}

export interface HostnameChange { live: 'changed' | 'unchanged'; files: Array<{ file: string; action: 'written' | 'unchanged' }> }

export function setHostname(sys: System, kernelHostnameFile: string, name: string): HostnameChange {
  checkHostname(name);
  const out: HostnameChange = { live: 'unchanged', files: [] };
  const fs = require('fs') as typeof import('fs');
  let current = '';
  try { current = fs.readFileSync(kernelHostnameFile, 'utf8').trim(); } catch { /* none */ }
  if (current !== name) {
    try {
      fs.writeFileSync(kernelHostnameFile, name);
    } catch (e) {
      throw new QgaError('GenericError', `cannot set the kernel host name (${(e as NodeJS.ErrnoException).code}); needs root (CAP_SYS_ADMIN)`);
    }
    out.live = 'changed';
  }
  const write = (file: string, text: string): void => {
    if (sys.readText(file) === text) { out.files.push({ file, action: 'unchanged' }); return; }
    try {
      sys.writeText(file, text, { mode: 0o644 });
    } catch (e) {
      throw new QgaError('GenericError', `the host name is ${out.live === 'changed' ? 'set live' : 'live already'} but ${file} could not be written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); files done: ${JSON.stringify(out.files)}`);
    }
    out.files.push({ file, action: 'written' });
  };
  write('/etc/hostname', `${name}\n`);
  write('/etc/hosts', hostsWithName(sys.readText('/etc/hosts') ?? '127.0.0.1\tlocalhost\n', name));
  return out;
}

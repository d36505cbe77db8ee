// What each command needs from this server to work: tools, a writable system tree, kernel
// interfaces. Every command of the table has an entry (a test checks it), so a new command cannot
// be forgotten here; an empty list means it needs nothing the agent does not have itself.

import { suspendFacts, suspendPlan, SuspendMode } from '../actions/suspend';
import type { System } from '../os/system';

export type ReasonKind = 'config' | 'frozen' | 'missing-tool' | 'read-only-root' | 'no-space' | 'journal' | 'kernel';

export interface Reason { kind: ReasonKind; desc: string }

/** Facts about the server gathered once per phoenix-capabilities call, without running a tool. */
export interface Facts {
  sys: System;
  which(tool: string): string | null;
  /** The system tree (os-root) cannot take writes: read-only, or full. */
  root: Reason | null;
  /** /proc is mounted (the user-tree door needs /proc/self/fd). */
  proc: boolean;
  /** A path of the live kernel exists (sysfs). */
  exists(p: string): boolean;
  /** Why the kernel host name cannot be written (errno code), or null. */
  hostnameProblem: string | null;
}

export type Need = (f: Facts) => Reason | null;

const tool = (name: string, pkg: string): Need => (f) =>
  (f.which(name) ? null : { kind: 'missing-tool', desc: `${name} is not installed (${pkg}): not found in /usr/sbin, /usr/bin, /sbin or /bin` });

const writableRoot = (what: string): Need => (f) => (f.root ? { kind: f.root.kind, desc: `${f.root.desc}: ${what} cannot be written` } : null);

const kernel = (p: string, why: string): Need => (f) => (f.exists(p) ? null : { kind: 'kernel', desc: `${why}: ${p} does not exist` });

const proc: Need = (f) => (f.proc ? null : { kind: 'kernel', desc: '/proc is not mounted: files in users\' directories are only reached through /proc/self/fd' });

const suspendable = (mode: SuspendMode): Need => (f) => {
  const plan = suspendPlan(mode, suspendFacts(f.sys, mode));
  if (!('error' in plan)) return null;
  return { kind: /needs systemd or pm-utils/.test(plan.error) ? 'missing-tool' : 'kernel', desc: plan.error };
};

const hostname: Need = (f) => (f.hostnameProblem ? { kind: 'kernel', desc: `the kernel host name cannot be set here (/proc/sys/kernel/hostname: ${f.hostnameProblem})` } : null);

// Growing needs one file system resizer, and sfdisk to read (growpart to write, else sfdisk) partitions.
const resizer: Need = (f) => (['resize2fs', 'xfs_growfs', 'btrfs'].some((t) => f.which(t)) ? null
  : { kind: 'missing-tool', desc: 'no file system resizer is installed: resize2fs (e2fsprogs), xfs_growfs (xfsprogs) or btrfs (btrfs-progs), in /usr/sbin, /usr/bin, /sbin or /bin' });
const partitioner: Need = (f) => (f.which('sfdisk') ? null
  : { kind: 'missing-tool', desc: `${f.which('growpart') ? 'sfdisk is not' : 'neither growpart nor sfdisk is'} installed: partitions cannot be read or grown (install cloud-guest-utils)` });

const memory = kernel('/sys/devices/system/memory', 'the kernel has no memory hotplug (CONFIG_MEMORY_HOTPLUG)');
const freeze = tool('fsfreeze', 'util-linux');
const ip = tool('ip', 'iproute2');

export const NEEDS: Record<string, Need[]> = {
  'guest-sync': [], 'guest-sync-delimited': [], 'guest-ping': [], 'guest-info': [], 'phoenix-agent-status': [], 'phoenix-get-host-keys': [],
  'guest-get-osinfo': [], 'guest-get-host-name': [], 'guest-get-time': [], 'guest-get-timezone': [], 'guest-get-load': [],
  'guest-get-cpustats': [], 'guest-get-diskstats': [], 'guest-get-fsinfo': [], 'guest-get-disks': [], 'guest-get-vcpus': [],
  'guest-get-users': [], 'guest-network-get-interfaces': [], 'guest-network-get-route': [],
  'phoenix-get-stats': [], 'phoenix-set-stats': [],
  'guest-set-vcpus': [kernel('/sys/devices/system/cpu', 'the kernel has no CPU sysfs')],
  'guest-get-memory-blocks': [memory], 'guest-set-memory-blocks': [memory], 'guest-get-memory-block-info': [memory],
  'phoenix-add-ip': [ip, writableRoot('the network configuration (use "persist": false for a live-only change)')],
  'phoenix-remove-ip': [ip, writableRoot('the network configuration (use "persist": false for a live-only change)')],
  'phoenix-list-ips': [ip],
  'phoenix-apply-network': [ip], 'phoenix-network-status': [],
  'phoenix-confirm-network': [writableRoot('the network configuration (a transaction applied with "persist": false needs nothing written)')],
  'guest-set-user-password': [tool('chpasswd', 'passwd'), writableRoot('/etc/shadow')],
  'phoenix-set-hostname': [hostname, writableRoot('/etc/hostname and /etc/hosts')],
  'guest-ssh-get-authorized-keys': [proc],
  'guest-ssh-add-authorized-keys': [proc, writableRoot('~/.ssh/authorized_keys')],
  'guest-ssh-remove-authorized-keys': [proc, writableRoot('~/.ssh/authorized_keys')],
  'guest-set-time': [tool('date', 'coreutils')],
  'guest-shutdown': [tool('shutdown', 'systemd-sysv or sysvinit-core')],
  'guest-suspend-disk': [suspendable('disk')], 'guest-suspend-ram': [suspendable('ram')], 'guest-suspend-hybrid': [suspendable('hybrid')],
  'guest-fstrim': [tool('fstrim', 'util-linux')],
  'guest-fsfreeze-status': [], 'guest-fsfreeze-freeze': [freeze], 'guest-fsfreeze-freeze-list': [freeze], 'guest-fsfreeze-thaw': [freeze],
  'guest-exec': [tool('mkfifo', 'coreutils')], 'guest-exec-status': [],
  'guest-file-open': [], 'guest-file-close': [], 'guest-file-read': [], 'guest-file-write': [], 'guest-file-seek': [], 'guest-file-flush': [],
  'phoenix-capabilities': [], 'phoenix-diagnose-login': [],
  'phoenix-grow-filesystem': [kernel('/sys/class/block', 'the kernel has no block device sysfs'), resizer, partitioner, tool('partx', 'util-linux')],
  'phoenix-set-config': [writableRoot('the config file and the heartbeat key file')], 'phoenix-get-config': [],
  'phoenix-release-put': [writableRoot('the upload directory')], 'phoenix-release-status': [],
  'phoenix-release-apply': [writableRoot('/usr/lib/phoenix-ga')],
  // The test worker's phoenix-test-* need nothing; their names stay out of the shipped worker.
};

// Commands that change the server. Each is `mutating`: it runs one at a time across connections,
// and with an `idempotency-key` argument it runs exactly once (agent/journal/).

import { setHostname } from '../actions/hostname';
import { addAddress, listAddresses, removeAddress } from '../actions/ip-addresses';
import { setUserPassword } from '../actions/password';
import { setTime, shutdown } from '../actions/power';
import { suspend } from '../actions/suspend';
import { addKeys, getKeys, removeKeys } from '../actions/ssh-keys';
import { fstrim } from '../actions/filesystems';
import { canonicalBase64 } from './base64';
import { command } from './command';
import { arrayOf, bool, int, int64, object, oneOf, optional, str } from './schema';

const username = str({ maxLength: 64, doc: 'user name' });
const keys = arrayOf(str({ maxLength: 16384, doc: 'authorized_keys line: [options] type base64 [comment]; an empty string is skipped' }), { maxItems: 512 });

const ipArgs = {
  interface: str({ maxLength: 15, doc: 'interface name' }),
  address: str({ maxLength: 64, doc: 'IPv4 (dotted decimal) or IPv6 address' }),
  prefix: int({ min: 1, max: 128, doc: 'prefix length, 1-32 (IPv4) or 1-128 (IPv6)' }),
  persist: optional(bool('boolean, default true: also in the network configuration, across reboots')),
};

export const actionCommands = [
  command({
    name: 'phoenix-add-ip',
    description: 'Ensure an address is on an interface, live and in the network configuration (ifupdown, netplan, NetworkManager, systemd-networkd, ifcfg); reports what changed where.',
    args: object(ipArgs),
    mutating: true,
    run: (a, ctx) => { ctx.network.assertFree(a.interface); return addAddress(ctx.sys, a); },
  }),
  command({
    name: 'phoenix-remove-ip',
    description: 'Ensure an address is not on an interface, live and in the network configuration; reports what changed where.',
    args: object(ipArgs),
    mutating: true,
    run: (a, ctx) => { ctx.network.assertFree(a.interface); return removeAddress(ctx.sys, a); },
  }),
  command({
    name: 'phoenix-list-ips',
    description: 'Per interface: live addresses, persisted addresses, who owns the configuration, the drift between live and persisted; what the interface is (`kind`: nic, wlan, loopback, bridge, bond, vlan, macvlan, veth, tun, tap, wireguard, vxlan, geneve, tunnel or virtual; `real`: a NIC or stacked on one; `driver`) and which of its addresses are `primary` (on the default route\'s interface, IPv4 and IPv6). qemu-ga has no such command.',
    args: object({ interface: optional(str({ maxLength: 15 })) }),
    run: (a, ctx) => listAddresses(ctx.sys, ctx.host, a.interface, ctx.network.panelSet),
  }),
  command({
    name: 'guest-set-user-password',
    description: 'Set a user\'s password through chpasswd on stdin (base64 `password`; `crypted`: it is already a crypt(3) hash). Root and users with uid >= 1000 only.',
    args: object({ username, password: str({ maxLength: 4096, doc: 'base64 of the password or hash (secret)' }), crypted: bool() }),
    mutating: true,
    secret: ['password'],
    // Base64 as qemu-ga takes it (Perl's encode_base64 breaks lines every 76 characters).
    run: (a, ctx) => setUserPassword(ctx.sys, { ...a, password: canonicalBase64(a.password) }),
  }),
  command({
    name: 'phoenix-set-hostname',
    description: 'Set the host name live and in /etc/hostname and /etc/hosts (127.0.1.1); reports what changed where.',
    args: object({ hostname: str({ maxLength: 253, doc: 'host name or FQDN, at most 64 characters' }) }),
    mutating: true,
    run: (a, ctx) => setHostname(ctx.sys, '/proc/sys/kernel/hostname', a.hostname),
  }),
  command({
    name: 'guest-ssh-get-authorized-keys',
    description: "The lines of the user's ~/.ssh/authorized_keys that are neither blank nor comments, in file order. The file is read only if it is a regular file of the user's (root's for root) with one link and at most 1 MiB, and ~/.ssh a directory of theirs; links are never followed.",
    args: object({ username }),
    run: (a, ctx) => getKeys(ctx.sys, a.username),
  }),
  command({
    name: 'guest-ssh-add-authorized-keys',
    description: "Add keys to the user's ~/.ssh/authorized_keys (`reset`: replace the whole file), creating ~/.ssh 0700 and the file 0600, owned by the user. Each key's data must decode to a key of its stated type; comments and options without a key are refused, empty strings skipped. Keys are compared by type and data, not comment: afterwards each given key is in the file exactly once, with the given options (a line already there with the same options is kept as it is).",
    args: object({ username, keys, reset: optional(bool()) }),
    mutating: true,
    run: (a, ctx) => addKeys(ctx.sys, a.username, a.keys, a.reset ?? false),
  }),
  command({
    name: 'guest-ssh-remove-authorized-keys',
    description: "Remove every line of the user's ~/.ssh/authorized_keys with one of the given keys (compared by type and data, whatever the options or comment); a key that is not there is not an error.",
    args: object({ username, keys }),
    mutating: true,
    run: (a, ctx) => removeKeys(ctx.sys, a.username, a.keys),
  }),
  command({
    name: 'guest-set-time',
    description: 'Set the clock to `time` (ns since the epoch) and write the RTC; without `time`, set the clock from the RTC.',
    args: object({ time: optional(int64('integer, ns since the epoch')) }),
    mutating: true,
    run: (a, ctx) => setTime(ctx.sys, a.time),
  }),
  command({
    name: 'guest-shutdown',
    description: 'Halt, power down (default) or reboot the server; no reply when it succeeds.',
    args: object({ mode: optional(oneOf(['halt', 'powerdown', 'reboot'] as const)) }),
    mutating: true,
    successResponse: false,
    completesByReboot: true,
    run: (a, ctx) => shutdown(ctx.sys, a.mode ?? 'powerdown'),
  }),
  ...(['disk', 'ram', 'hybrid'] as const).map((mode) => command({
    name: `guest-suspend-${mode}`,
    description: `${mode === 'disk' ? 'Hibernate (suspend to disk)' : mode === 'ram' ? 'Suspend to RAM' : 'Hybrid sleep (to RAM and disk)'}: systemctl where systemd runs, else pm-utils, else /sys/power/state; no reply when it succeeds, an error naming what the kernel lacks when it cannot.`,
    args: object({}),
    mutating: true,
    successResponse: false,
    run: (_a, ctx) => suspend(ctx.sys, mode),
  })),
  command({
    name: 'guest-fstrim',
    description: 'Discard unused blocks of every local file system (fstrim); `minimum` in bytes.',
    args: object({ minimum: optional(int({ min: 0 })) }),
    mutating: true,
    run: (a, ctx) => fstrim(ctx.sys, ctx.host, a.minimum),
  }),
  command({
    name: 'guest-fsfreeze-status',
    description: 'Whether the file systems are frozen or thawed.',
    args: object({}),
    run: (_a, ctx) => ctx.freezer.status(),
  }),
  command({
    name: 'guest-fsfreeze-freeze',
    description: 'Freeze every local file system for a backup snapshot; thawed automatically after `freeze-timeout` if the host does not thaw. Returns how many were frozen.',
    args: object({}),
    run: (_a, ctx) => ctx.freezer.freeze(undefined),
  }),
  command({
    name: 'guest-fsfreeze-freeze-list',
    description: 'Freeze the listed mount points (all local file systems without a list). Returns how many were frozen.',
    args: object({ mountpoints: optional(arrayOf(str({ maxLength: 4096 }), { maxItems: 256 })) }),
    run: (a, ctx) => ctx.freezer.freeze(a.mountpoints),
  }),
  command({
    name: 'guest-fsfreeze-thaw',
    description: 'Thaw the frozen file systems. Returns how many were thawed.',
    args: object({}),
    run: (_a, ctx) => ctx.freezer.thaw(),
  }),
  command({
    name: 'guest-exec',
    description: 'Start a program (blocked in the shipped configuration): stdin /dev/null or the base64 `input-data`, output captured through pipes, the service\'s environment unless `env` is given. Returns its pid for guest-exec-status.',
    args: object({
      path: str({ maxLength: 4096 }),
      arg: optional(arrayOf(str({ maxLength: 131072 }), { maxItems: 4096 })),
      env: optional(arrayOf(str({ maxLength: 131072 }), { maxItems: 4096 })),
      'input-data': optional(str({ maxLength: 48 << 20, doc: 'base64 (line breaks allowed)' })),
      'capture-output': optional(captureOutput()),
    }),
    run: (a, ctx) => ctx.exec.start(a),
  }),
  command({
    name: 'guest-exec-status',
    description: 'Exit status and output (base64) of a guest-exec program; forgotten once reported as exited.',
    args: object({ pid: int({ min: 1 }) }),
    run: (a, ctx) => ctx.exec.status(a.pid),
  }),
];

/** capture-output is a boolean or, since qemu-ga 8.0, a mode name. */
function captureOutput() {
  const modes = oneOf(['none', 'stdout', 'stderr', 'separated', 'merged'] as const);
  return {
    kind: 'boolean',
    doc: 'boolean, or none | stdout | stderr | separated | merged',
    check: (v: unknown, name: string) => (typeof v === 'boolean' ? v : typeof v === 'string' ? modes.check(v, name) : bool().check(v as never, name)),
  };
}


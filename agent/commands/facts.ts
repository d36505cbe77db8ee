// qemu-ga's read commands: the server's facts, in qemu-ga's reply shapes (see docs/commands.md
// and the deliberate differences in docs/protocol.md).

import { cpuStats, parseLoadavg, vcpus } from '../facts/cpu';
import { guestDisks } from '../facts/block-devices';
import { fsInfo, parseDiskstats } from '../facts/disks';
import { interfaces, routes } from '../facts/network';
import { orderInterfaces } from '../net/order';
import { osInfo } from '../facts/osinfo';
import { timezone } from '../facts/time';
import { users } from '../facts/users';
import { QgaError } from '../wire/reply';
import { command } from './command';
import { noArgs } from './schema';

export const factCommands = [
  command({
    name: 'guest-get-osinfo',
    description: 'Kernel (uname) and distribution (os-release, or redhat-release / lsb-release / debian_version on old systems).',
    args: noArgs,
    run: (_a, ctx) => osInfo(ctx.host),
  }),
  command({
    name: 'guest-get-host-name',
    description: 'The kernel host name.',
    args: noArgs,
    run: (_a, ctx) => ({ 'host-name': ctx.host.hostName().trim() }),
  }),
  command({
    name: 'guest-get-time',
    description: 'Wall-clock time in nanoseconds since the epoch.',
    args: noArgs,
    run: (_a, ctx) => ctx.host.timeNs(),
  }),
  command({
    name: 'guest-get-timezone',
    description: 'Zone abbreviation and offset from UTC in seconds (from /etc/localtime).',
    args: noArgs,
    run: (_a, ctx) => timezone(ctx.host),
  }),
  command({
    name: 'guest-get-load',
    description: 'Load averages over 1, 5 and 15 minutes.',
    args: noArgs,
    run: (_a, ctx) => {
      const l = parseLoadavg(ctx.host.read('/proc/loadavg') ?? '');
      if (!l) throw new QgaError('GenericError', 'cannot read /proc/loadavg');
      return { load1m: l.load1m, load5m: l.load5m, load15m: l.load15m };
    },
  }),
  command({
    name: 'guest-get-cpustats',
    description: 'Per-CPU time counters (user, nice, system, idle, iowait, irq, softirq, steal, guest, guestnice) in milliseconds.',
    args: noArgs,
    run: (_a, ctx) => cpuStats(ctx.host),
  }),
  command({
    name: 'guest-get-diskstats',
    description: 'The /proc/diskstats counters of every block device.',
    args: noArgs,
    run: (_a, ctx) => parseDiskstats(ctx.host.read('/proc/diskstats') ?? ''),
  }),
  command({
    name: 'guest-get-fsinfo',
    description: 'Local file systems: mount point, type, used and total bytes, the disk behind each.',
    args: noArgs,
    run: (_a, ctx) => fsInfo(ctx.host),
  }),
  command({
    name: 'guest-get-disks',
    description: 'Block devices and their partitions: device node, partition or not, dependencies, device-mapper alias, bus address (no NVMe SMART data).',
    args: noArgs,
    run: (_a, ctx) => guestDisks(ctx.host),
  }),
  command({
    name: 'guest-get-vcpus',
    description: 'Logical CPUs, whether each is online and whether it can be taken offline.',
    args: noArgs,
    run: (_a, ctx) => vcpus(ctx.host),
  }),
  command({
    name: 'guest-get-users',
    description: 'Users logged in (utmp), each with the time of their first login.',
    args: noArgs,
    run: (_a, ctx) => users(ctx.host),
  }),
  command({
    name: 'guest-network-get-interfaces',
    description: 'Network interfaces with hardware address, IP addresses and counters, in qemu-ga\'s shape. The order follows the config key `interfaces-order`: by default (`real-first`) the default route\'s interface comes first, then the other NICs, then the rest (loopback, bridges, veth, tun...) in the kernel\'s order; `as-is` keeps qemu-ga\'s order (by ifindex); `real-only` lists only the NICs and what is stacked on them.',
    args: noArgs,
    run: (_a, ctx) => orderInterfaces(ctx.host, interfaces(ctx.host) as Array<{ name: string }>, ctx.config.interfacesOrder),
  }),
  command({
    name: 'guest-network-get-route',
    description: 'IPv4 and IPv6 routes (/proc/net/route, /proc/net/ipv6_route).',
    args: noArgs,
    run: (_a, ctx) => routes(ctx.host),
  }),
];


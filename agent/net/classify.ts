// What each network interface is, read from sysfs alone (no tool run, no name trusted: a
// customer can call a bridge eth0 or a NIC docker0): the NIC the hypervisor gave (a device with a
// driver), or the software plumbing of containers and VPNs (veth, bridge, tun, tap, wireguard,
// vxlan, ...). A bridge, bond or VLAN stacked on a real NIC carries the real address and is real.

import { isVirtualInterface, learntOnce } from '../facts/network';
import type { Host } from '../os/host';

export type InterfaceKind =
  | 'nic' | 'wlan' | 'loopback' | 'bridge' | 'bond' | 'vlan' | 'macvlan' | 'veth' | 'tun' | 'tap'
  | 'wireguard' | 'vxlan' | 'geneve' | 'tunnel' | 'virtual';

export interface InterfaceClass {
  name: string;
  kind: InterfaceKind;
  /** A NIC, or stacked on one: where the server's own address lives. */
  real: boolean;
  /** The device's driver (virtio_net, e1000, vmxnet3, vif, hv_netvsc, ena, ...); null for software devices. */
  driver: string | null;
  /** The driver is one a hypervisor or cloud presents (paravirtual, emulated or an SR-IOV function). */
  hypervisor: boolean;
  /** The device under /sys/devices, null for software devices. */
  device: string | null;
  /** addr_assign_type: a NIC's MAC is permanent (or set), software devices get a random one. */
  mac: 'permanent' | 'random' | 'stolen' | 'set' | null;
  /** The devices this one is stacked on (bridge ports, bond slaves, a VLAN's parent). */
  lower: string[];
  up: boolean;
}

// Drivers of the NICs hypervisors and clouds give a guest (KVM/QEMU, VMware, Xen, Hyper-V, AWS,
// GCP, Azure and SR-IOV virtual functions); a device-backed NIC with another driver is still a NIC.
const HYPERVISOR_DRIVERS = new Set([
  'virtio_net', 'virtio-net', 'e1000', 'e1000e', 'igb', 'rtl8139', '8139cp', '8139too', 'ne2k-pci', 'pcnet32', 'tulip',
  'vmxnet3', 'vmxnet', 'vif', 'xen-netfront', 'hv_netvsc', 'ena', 'gve', 'ixgbevf', 'igbvf', 'iavf', 'i40evf', 'mlx4_core', 'mlx5_core', 'ibmveth',
]);

const ARPHRD = { loopback: 772, none: 65534, tunnel: 768, tunnel6: 769, sit: 776, ipgre: 778, ip6gre: 823 };
const IFF_UP = 0x1, IFF_LOOPBACK = 0x8;
const IFF_TAP = 0x2;
const MAC_ORIGIN = ['permanent', 'random', 'stolen', 'set'] as const;
// DEVTYPE values of uevent that name the kind outright.
const DEVTYPES: Record<string, InterfaceKind> = { bridge: 'bridge', bond: 'bond', vlan: 'vlan', wlan: 'wlan', wireguard: 'wireguard', vxlan: 'vxlan', geneve: 'geneve', macvlan: 'macvlan', ipvlan: 'macvlan', macvtap: 'macvlan', team: 'bond' };

/** The kinds that forward a lower device's traffic: one stacked on a NIC carries the real address. */
const FORWARDING: InterfaceKind[] = ['bridge', 'bond', 'vlan', 'macvlan'];

const num = (s: string | null): number => (s === null ? NaN : Number(s.trim()));

function devtype(host: Host, dir: string): string | null {
  const m = /^DEVTYPE=(.*)$/m.exec(host.read(`${dir}/uevent`) ?? '');
  return m ? m[1].trim() : null;
}

function base(link: string | null): string | null {
  return link ? link.split('/').pop() ?? null : null;
}

function kindOf(host: Host, dir: string, o: { type: number; flags: number; driver: string | null; lower: string[]; index: number; iflink: number }): InterfaceKind {
  if (o.type === ARPHRD.loopback || o.flags & IFF_LOOPBACK) return 'loopback';
  const tunFlags = host.read(`${dir}/tun_flags`);
  if (tunFlags !== null) return parseInt(tunFlags, 16) & IFF_TAP ? 'tap' : 'tun';
  const dt = devtype(host, dir);
  if (dt && DEVTYPES[dt]) return DEVTYPES[dt];
  if (host.exists(`${dir}/bridge`)) return 'bridge';
  if (host.exists(`${dir}/bonding`)) return 'bond';
  if (o.driver) return 'nic';
  if ([ARPHRD.tunnel, ARPHRD.tunnel6, ARPHRD.sit, ARPHRD.ipgre, ARPHRD.ip6gre].includes(o.type)) return 'tunnel';
  if (o.type === ARPHRD.none) return 'tunnel';
  // Stacked on another device without a DEVTYPE: macvlan and ipvlan on older kernels.
  if (o.lower.length) return 'macvlan';
  // A veth's link is its peer (another ifindex); a dummy, ifb or the like links to itself.
  if (Number.isInteger(o.iflink) && o.iflink !== o.index && o.iflink > 0) return 'veth';
  return 'virtual';
}

function classifyOne(host: Host, name: string): InterfaceClass {
  const dir = `/sys/class/net/${name}`;
  const type = num(host.read(`${dir}/type`));
  const flags = parseInt(host.read(`${dir}/flags`) ?? '0', 16);
  const devLink = host.link(`${dir}/device`);
  const driver = devLink ? base(host.link(`${dir}/device/driver`)) : null;
  const lower = host.list(dir).filter((e) => e.startsWith('lower_')).map((e) => e.slice(6)).sort();
  const kind = kindOf(host, dir, { type, flags, driver, lower, index: num(host.read(`${dir}/ifindex`)), iflink: num(host.read(`${dir}/iflink`)) });
  const aat = num(host.read(`${dir}/addr_assign_type`));
  return {
    name,
    kind,
    real: kind === 'nic' || kind === 'wlan',
    driver,
    hypervisor: driver !== null && HYPERVISOR_DRIVERS.has(driver),
    device: devLink ? host.realpath(`${dir}/device`) : null,
    mac: MAC_ORIGIN[aat] ?? null,
    lower,
    up: (flags & IFF_UP) !== 0,
  };
}

/** Every interface of this network namespace, by name; a stacked device over a real one is real. */
export function classifyInterfaces(host: Host, names: string[]): Map<string, InterfaceClass> {
  const out = new Map(names.map((n) => [n, classifyOne(host, n)]));
  const realBelow = (c: InterfaceClass, seen: Set<string>): boolean => c.real || c.lower.some((l) => {
    const below = out.get(l);
    return !!below && !seen.has(l) && realBelow(below, new Set([...seen, l]));
  });
  // Only devices that forward their lower device's traffic: never a veth or tunnel.
  for (const c of out.values()) if (FORWARDING.includes(c.kind) && realBelow(c, new Set([c.name]))) c.real = true;
  return out;
}

/**
 * The software device NAME can carry a NIC's traffic: a bridge, bond, VLAN or macvlan (its
 * DEVTYPE, or, on kernels that set none, a bridge or bonding directory or a lower_ link). What a
 * device is does not change while it exists, and one of another kind never gains a lower device
 * (a macvlan's or VLAN's is set when it is made): learnt once per device.
 */
function mayForward(host: Host, name: string): boolean {
  return learntOnce(host, name, 'forwards', () => {
    const dir = `/sys/class/net/${name}`;
    const dt = devtype(host, dir);
    if (dt !== null && FORWARDING.includes(DEVTYPES[dt])) return true;
    return host.list(dir).some((e) => e === 'bridge' || e === 'bonding' || e.startsWith('lower_'));
  });
}

/**
 * The real ones among NAMES, cheaply (for ordering on every guest-network-get-interfaces): a
 * device outside /sys/devices/virtual is a NIC; a virtual one is real only when it forwards for a
 * real device below it, which then has an upper_ link to it (then all are fully classified). A
 * container host has dozens of veths and one or two NICs: only the NICs' directories are listed,
 * and none when no software device can forward (loopback, tun, veth, ifb...: most servers).
 */
export function realInterfaces(host: Host, names: string[]): Set<string> {
  const out = new Set<string>();
  let forwarder = false;
  for (const n of names) {
    if (isVirtualInterface(host, n)) forwarder ||= mayForward(host, n);
    else out.add(n);
  }
  const stacked = forwarder && [...out].some((n) => host.list(`/sys/class/net/${n}`).some((e) => e.startsWith('upper_')));
  if (stacked) for (const c of classifyInterfaces(host, names).values()) if (c.real) out.add(c.name);
  return out;
}

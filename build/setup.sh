#!/usr/bin/env bash
# Everything a fresh Debian 12 machine needs before `sudo npm test` (and `npm run package`):
# run once, as root, from a clone: sudo build/setup.sh. CI runs it too (.ci/run). Idempotent.
#   - Debian packages: socat (the serial test's pty bridge), qemu-guest-agent (the compatibility
#     tests run the real qemu-ga beside phoenix-ga), openssh-server, nftables and fail2ban (the
#     login doctor's tests run a real sshd -T, nftables rules in a namespace and their own
#     fail2ban server), fdisk (sfdisk), cloud-guest-utils (growpart), xfsprogs and btrfs-progs
#     (disk growth is tested on loop-device images with real partitions and file systems), and
#     for the e2e tests (docs/e2e.md) debootstrap, systemd-container, qemu-system-x86, e2fsprogs
#     and zstd, and libvirt-daemon-system and libvirt-clients (the VM as a libvirt domain driven
#     by virsh); binutils (strip) and lintian for the packages;
#   - the real netplan and ifupdown, unpacked (not installed) into .local/nettools;
#   - the npm dev dependencies (npm ci);
#   - the Node runtimes the tests and packages use (Node 16, 20 and 26, cached in /var/tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "build/setup.sh: run as root (sudo build/setup.sh)" >&2; exit 2; fi

export DEBIAN_FRONTEND=noninteractive
need=()
have() { command -v "$1" >/dev/null; }
have socat || need+=(socat)
have qemu-ga || need+=(qemu-guest-agent)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ -x /usr/sbin/nft ] || need+=(nftables)
[ -x /usr/bin/fail2ban-server ] || need+=(fail2ban)
have sfdisk || need+=(fdisk)
have growpart || need+=(cloud-guest-utils)
{ have mkfs.xfs && have xfs_growfs; } || need+=(xfsprogs)
have mkfs.btrfs || need+=(btrfs-progs)
have debootstrap || need+=(debootstrap)
have systemd-nspawn || need+=(systemd-container)
have qemu-system-x86_64 || need+=(qemu-system-x86)
{ have mkfs.ext4 && have debugfs; } || need+=(e2fsprogs)
have zstd || need+=(zstd)
have libvirtd || need+=(libvirt-daemon-system)
have virsh || need+=(libvirt-clients)
have strip || need+=(binutils)
have lintian || need+=(lintian)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# qemu-ga's package may start its service where systemd runs; the tests start their own.
if have systemctl && systemctl is-active -q qemu-guest-agent 2>/dev/null; then systemctl stop qemu-guest-agent || true; fi

if [ ! -x .local/nettools/sbin/ifup ]; then
  [ -n "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v lock)" ] || apt-get update -qq
  sh test/fixtures/netcfg/nettools.sh >/dev/null
fi

npm ci --no-audit --no-fund --loglevel=error
node build/runtime.mjs 16.20.2 20.20.2 26.12.1 >/dev/null
echo "build/setup.sh: done; now: sudo npm test"

#!/usr/bin/env bash
# build-rootfs.sh - build one Debian bookworm minbase tree for the e2e tests (test/e2e/lib/rootfs.ts
# calls it and caches the result keyed by a hash of this file: any edit here rebuilds the trees).
#
# Usage: build-rootfs.sh OUTDIR systemd|sysvinit [--mirror URL]
#        build-rootfs.sh OUTDIR vm --base SYSTEMD_TREE [--mirror URL]
#
#   systemd   minbase + systemd, udev, dbus and a few tools (PID 1 = systemd)
#   sysvinit  minbase + sysvinit-core, sysv-rc, initscripts (PID 1 = sysvinit's init)
#   vm        a copy of SYSTEMD_TREE + linux-image-amd64 with a small initrd, a test shell on the
#             virtio-serial port "e2e.shell" and a static slirp address on eth0
#   --mirror  default: the first Debian mirror in the host's apt sources
#
# Needs root and debootstrap. Prints step timings on stderr; the debootstrap log is OUTDIR.log.
set -euo pipefail

die() { echo "build-rootfs: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: $0 OUTDIR systemd|sysvinit|vm [--base TREE] [--mirror URL]"
OUT=$1; KIND=$2; shift 2
MIRROR=""; BASE=""
while [ $# -gt 0 ]; do
  case $1 in
    --mirror) MIRROR=$2; shift ;;
    --base) BASE=$2; shift ;;
    *) die "unknown argument $1" ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || die "must run as root"
[ ! -e "$OUT" ] || [ -z "$(ls -A "$OUT")" ] || die "$OUT exists and is not empty"

if [ -z "$MIRROR" ]; then
  MIRROR=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/{print $2; exit}')
  [ -n "$MIRROR" ] || MIRROR=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2; exit}')
  [ -n "$MIRROR" ] || die "no Debian mirror in the host's apt sources; pass --mirror URL"
fi

t() { local s; s=$(date +%s%N); "$@"; local rc=$?; echo "build-rootfs: $KIND: $(printf %.40s "$*") took $(( ($(date +%s%N) - s) / 1000000 )) ms" >&2; return $rc; }
log() { "$@" >>"$OUT.log" 2>&1 || { tail -30 "$OUT.log" >&2; die "failed: $* (log: $OUT.log)"; }; }

debootstrap_tree() {
  local common=iproute2,procps,kmod,ca-certificates,netbase,less pkgs
  case $KIND in
    # udev gives a VM its /dev/virtio-ports/<name> links.
    systemd) pkgs=systemd,systemd-sysv,udev,dbus,$common ;;
    sysvinit) pkgs=sysvinit-core,sysv-rc,initscripts,udev,$common ;;
  esac
  mkdir -p "$OUT"
  : >"$OUT.log"
  t log debootstrap --variant=minbase --include="$pkgs" bookworm "$OUT" "$MIRROR"
  echo "e2e-$KIND" >"$OUT/etc/hostname"
  chroot "$OUT" passwd -d root >/dev/null
  # fsck pass 0: with pass 1, sysvinit's checkroot runs fsck inside nspawn and stops in a maintenance shell.
  printf '/dev/vda / ext4 defaults 0 0\n' >"$OUT/etc/fstab"
  rm -rf "$OUT"/var/cache/apt/archives/*.deb "$OUT"/var/lib/apt/lists/*
}

if [ "$KIND" = systemd ]; then
  debootstrap_tree
  # Root autologin on a VM's serial console; harmless in nspawn.
  mkdir -p "$OUT/etc/systemd/system/serial-getty@ttyS0.service.d"
  printf '[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %%I $TERM\n' \
    >"$OUT/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf"
  # Timers and scrubs that only cost boot time in a throw-away guest.
  for u in e2scrub_reap.service e2scrub_all.timer apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer fstrim.timer; do
    ln -sf /dev/null "$OUT/etc/systemd/system/$u"
  done
elif [ "$KIND" = sysvinit ]; then
  debootstrap_tree
  # No gettys on tty1-6: a container has no such terminals, init would respawn them forever.
  sed -i -E 's/^([1-6]:)/#\1/' "$OUT/etc/inittab"
elif [ "$KIND" = vm ]; then
  [ -d "$BASE/etc/systemd" ] || die "vm needs --base SYSTEMD_TREE (got '$BASE')"
  t cp -a --reflink=auto "$BASE" "$OUT"
  echo "e2e-vm" >"$OUT/etc/hostname"
  : >"$OUT.log"
  cp "$OUT/etc/resolv.conf" "$OUT.resolv" 2>/dev/null || : >"$OUT.resolv"
  cp -L /etc/resolv.conf "$OUT/etc/resolv.conf"
  for d in proc sys dev; do mount --bind "/$d" "$OUT/$d"; done
  trap 'for d in proc sys dev; do umount "$OUT/$d" 2>/dev/null || true; done' EXIT
  # No service may start inside the build chroot.
  printf '#!/bin/sh\nexit 101\n' >"$OUT/usr/sbin/policy-rc.d"; chmod 755 "$OUT/usr/sbin/policy-rc.d"
  export DEBIAN_FRONTEND=noninteractive
  t log chroot "$OUT" apt-get update
  t log chroot "$OUT" apt-get install -y --no-install-recommends initramfs-tools
  # Debian's default initrd (MODULES=most) is 36 MB and slow to unpack under TCG; these few
  # drivers give about 7 MB and halve kernel boot time. Written before the kernel's postinst runs.
  echo 'MODULES=list' >"$OUT/etc/initramfs-tools/conf.d/e2e-modules.conf"
  printf '%s\n' virtio_pci virtio_blk ext4 virtio_console virtio_net 9pnet_virtio 9p >"$OUT/etc/initramfs-tools/modules"
  t log chroot "$OUT" apt-get install -y --no-install-recommends linux-image-amd64
  log chroot "$OUT" apt-get clean
  for d in proc sys dev; do umount "$OUT/$d"; done
  trap - EXIT
  rm -rf "$OUT"/var/lib/apt/lists/* "$OUT"/boot/*.dpkg-bak "$OUT/usr/sbin/policy-rc.d"
  cp "$OUT.resolv" "$OUT/etc/resolv.conf"; rm -f "$OUT.resolv"
  ls "$OUT"/boot/vmlinuz-* "$OUT"/boot/initrd.img-* >/dev/null || die "no kernel or initrd in $OUT/boot"

  # The test shell: keeps the port "e2e.shell" open for the whole boot and runs one script per
  # line "<id> <base64 script>", framed "__E2E_BEGIN id" / output / "__E2E_END id rc" (host side:
  # vm-shell.ts). A read returns EOF while no host is connected and the guest kernel discards
  # unread port data when the port is closed, so it waits after EOF instead of reopening.
  mkdir -p "$OUT/usr/local/sbin"
  cat >"$OUT/usr/local/sbin/e2e-shell" <<'EOF'
#!/bin/bash
# The host (vm.ts) waits for this line on the serial console to know that a reboot happened.
echo "e2e-shell: boot $(cat /proc/sys/kernel/random/boot_id)" >/dev/console 2>/dev/null || true
P=/dev/virtio-ports/e2e.shell
while [ ! -e $P ]; do sleep 0.1; done
exec 3<>$P
while :; do
  if IFS=" " read -r id b64 <&3; then
    [ -n "$b64" ] || continue
    printf "%s" "$b64" | base64 -d >/run/e2e-cmd 2>/dev/null || continue
    printf "__E2E_BEGIN %s\n" "$id" >&3
    bash /run/e2e-cmd </dev/null >&3 2>&1
    printf "__E2E_END %s %s\n" "$id" "$?" >&3
  else
    # The host is not connected (the port reads EOF). Not bash's read -t: bash keeps its deadline
    # on the wall clock, so a test that steps the guest's clock back years held the shell that long.
    sleep 0.1
  fi
done
EOF
  # slirp's fixed plan: the guest is 10.0.2.15/24 and reaches the host's loopback as 10.0.2.2.
  cat >"$OUT/usr/local/sbin/e2e-net" <<'EOF'
#!/bin/sh
for i in $(seq 1 200); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done
ip link set lo up
ip link set eth0 up && ip addr replace 10.0.2.15/24 dev eth0 && ip route replace default via 10.0.2.2
EOF
  chmod 755 "$OUT/usr/local/sbin/e2e-shell" "$OUT/usr/local/sbin/e2e-net"
  U=$OUT/etc/systemd/system
  printf '%s\n' '[Unit]' 'Description=e2e static address on eth0 for slirp' 'DefaultDependencies=no' \
    'After=systemd-udev-trigger.service' '[Service]' 'Type=oneshot' 'RemainAfterExit=yes' \
    'ExecStart=/usr/local/sbin/e2e-net' '[Install]' 'WantedBy=sysinit.target' >"$U/e2e-net.service"
  # Ordered after e2e-net so that a shell that answers also has the network up.
  printf '%s\n' '[Unit]' 'Description=e2e test shell on virtio-serial port e2e.shell' 'DefaultDependencies=no' \
    'After=e2e-net.service' 'StartLimitIntervalSec=0' '[Service]' 'ExecStart=/usr/local/sbin/e2e-shell' \
    'Restart=always' 'RestartSec=0.2' '[Install]' 'WantedBy=sysinit.target' >"$U/e2e-shell.service"
  mkdir -p "$U/sysinit.target.wants"
  ln -sf ../e2e-net.service "$U/sysinit.target.wants/e2e-net.service"
  ln -sf ../e2e-shell.service "$U/sysinit.target.wants/e2e-shell.service"
else
  die "kind must be systemd, sysvinit or vm (got '$KIND')"
fi
echo "build-rootfs: $KIND: $(du -sh "$OUT" | cut -f1) in $OUT" >&2

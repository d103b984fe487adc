#!/usr/bin/env bash
# Builds (once) the Debian 12 virtual machine that vm_debian12_test.sh boots: a root filesystem
# from Debian's packages (debootstrap from the host's mirror: systemd, Debian's 6.1 kernel and
# initramfs, and the packages named on the command line, i.e. what sandboxd's .deb depends on, so
# that `apt-get install ./sandboxd_*.deb` works inside without a network), written into an ext4
# disk image with `mkfs.ext4 -d`, with the kernel and initrd beside it for QEMU's -kernel/-initrd.
#
#   build_vm_image.sh CACHE_DIR PACKAGE...
#
# Prints the image folder, CACHE_DIR/debian12-<key>/{root.ext4,vmlinuz,initrd.img,installed}. The
# key hashes this script and the mirror; the cached image is reused while its `installed` list
# (dpkg-query inside) holds every package asked for, so a new dependency of the .deb or a changed
# recipe builds a new image (and removes the old one). The image is never written by a test: QEMU
# boots it with snapshot=on.
set -euo pipefail

cache=${1:?usage: $0 CACHE_DIR PACKAGE...}
shift
say() { printf 'vm-image: %s\n' "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }

suite=bookworm
# The guest's own needs: systemd as PID 1 with udev (device units for the disks and the serial
# console), Debian's kernel with an initramfs that loads virtio_blk, and apt to install the .deb.
base_packages=(systemd systemd-sysv udev dbus linux-image-amd64 initramfs-tools apt ca-certificates)
mapfile -t packages < <(printf '%s\n' "${base_packages[@]}" "$@" | sort -u)
# A dependency may be a virtual package (dpkg-shlibdeps writes libspdlog1.10-fmt9, which
# libspdlog1.10 provides); debootstrap takes real ones. The .deb was built on this host, so the
# host's dpkg database names the provider.
real_packages=()
for p in "${packages[@]}"; do
  if dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii'; then
    real_packages+=("$p")
    continue
  fi
  provider=$(dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Provides}\n' 2>/dev/null |
             awk -v want="$p" '$1=="ii" {for (i = 3; i <= NF; i++) {w = $i; sub(/,$/, "", w); if (w == want) {print $2; exit}}}' || true)
  real_packages+=("${provider:-$p}")
done
mapfile -t real_packages < <(printf '%s\n' "${real_packages[@]}" | sed 's/:.*//' | sort -u)

# First Debian archive URI of the host's apt configuration, as runtime_images/build-image does.
mirror=$( { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
            grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' || true; } |
          grep -v -- '-security' | head -n1 || true)
[ -n "$mirror" ] || die "no Debian mirror in the host's apt configuration"

key=$( { sha256sum <"$0"; printf '%s\n' "$suite" "$mirror"; } | sha256sum | cut -c1-16)
image=$cache/debian12-$key
mkdir -p "$cache"
exec 8>"$cache/image.lock"
flock 8   # one builder per cache folder; a second test waits and reuses the result

if [ -f "$image/root.ext4" ] && [ -f "$image/vmlinuz" ] && [ -f "$image/initrd.img" ] &&
   [ -f "$image/installed" ]; then
  lacking=$(printf '%s\n' "${packages[@]}" | grep -vxFf "$image/installed" || true)
  if [ -z "$lacking" ]; then
    say "reusing $image"
    echo "$image"
    exit 0
  fi
  say "the cached image lacks $(echo $lacking): building it again"
fi

command -v debootstrap >/dev/null || die "debootstrap is not installed (scripts/setup.sh)"
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 is not installed (e2fsprogs)"

rm -rf "$cache"/stage.*
stage=$(mktemp -d "$cache/stage.XXXXXX")
trap 'umount "$stage/rootfs/proc" 2>/dev/null || true; rm -rf "$stage"' EXIT
root=$stage/rootfs
t0=$(date +%s)
say "bootstrapping Debian $suite from $mirror into $stage ($(printf '%s ' "${real_packages[@]}"))"
if ! timeout 1800 debootstrap --variant=minbase --include="$(IFS=,; echo "${real_packages[*]}")" \
     "$suite" "$root" "$mirror" >"$stage/debootstrap.log" 2>&1; then
  tail -n 30 "$stage/debootstrap.log" >&2
  die "debootstrap failed"
fi
say "debootstrap took $(( $(date +%s) - t0 )) s"

# The kernel's postinst makes the initrd only when initramfs-tools was configured before it; make
# sure there is one. MODULES=most (the default) takes virtio_blk and ext4 along.
if ! ls "$root"/boot/initrd.img-* >/dev/null 2>&1; then
  mount -t proc proc "$root/proc"
  chroot "$root" update-initramfs -c -k all >"$stage/initramfs.log" 2>&1 ||
    { tail -n 20 "$stage/initramfs.log" >&2; die "update-initramfs failed"; }
  umount "$root/proc"
fi
kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n1)
initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -n1)
[ -f "$kernel" ] && [ -f "$initrd" ] || die "no kernel or initrd in $root/boot"

# --- the guest's configuration ---------------------------------------------------------------
echo sbxd-vm >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 sbxd-vm\n' >"$root/etc/hosts"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$root/etc/fstab"
rm -f "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*_Packages
# No login prompts: the serial console carries the test's report.
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
ln -sf /dev/null "$root/etc/systemd/system/getty@tty1.service"
# Nothing to wait for on a machine without a network.
ln -sf /dev/null "$root/etc/systemd/system/systemd-networkd-wait-online.service"
# The test: the third disk (/dev/vdc, written per run) carries the .deb and guest_check.sh; this
# unit runs it once the system is up and powers off whatever happens (ExecStopPost).
cat >"$root/etc/systemd/system/sandboxd-vm-check.service" <<'EOF'
[Unit]
Description=sandboxd VM test: run guest_check.sh from the payload disk
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'mkdir -p /mnt/payload && mount -o ro /dev/vdc /mnt/payload && exec /bin/bash /mnt/payload/guest_check.sh /mnt/payload'
ExecStopPost=/bin/systemctl poweroff --no-block
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/ttyS0
TTYReset=no
TTYVHangup=no
TimeoutStartSec=3000
[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/sandboxd-vm-check.service \
  "$root/etc/systemd/system/multi-user.target.wants/sandboxd-vm-check.service"

# --- the disk ----------------------------------------------------------------------------------
used_mb=$(du -sm "$root" | cut -f1)
size_mb=$((used_mb + 1024))   # room for the .deb's files, the journal and the spill folder
truncate -s "${size_mb}M" "$stage/root.ext4"
mkfs.ext4 -q -F -L sbxd-vm-root -d "$root" "$stage/root.ext4" ||
  die "mkfs.ext4 -d failed"
cp "$kernel" "$stage/vmlinuz"
cp "$initrd" "$stage/initrd.img"
# What the image holds, virtual packages included: the list the next run's packages are held to.
chroot "$root" dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Provides}\n' |
  awk '$1=="ii" {for (i = 2; i <= NF; i++) if ($i !~ /^\(/) {w = $i; sub(/,$/, "", w); print w}}' |
  sed 's/:.*//' | sort -u >"$stage/installed"
mkdir "$stage/image"
mv "$stage/root.ext4" "$stage/vmlinuz" "$stage/initrd.img" "$stage/installed" "$stage/image/"
# Only now is an older image replaced: a failed or killed build leaves the last good one.
rm -rf "$cache"/debian12-*
mv "$stage/image" "$image"
say "built $image (${size_mb} MiB disk, kernel $(basename "$kernel")) in $(( $(date +%s) - t0 )) s"
echo "$image"

#!/usr/bin/env bash
# sandboxd on a real Debian 12 host: boots a Debian 12 virtual machine (Debian's 6.1 kernel and
# systemd, cgroup v2 unified) under QEMU, installs the project's .deb into it with apt-get and runs
# tests/packaging/vm/guest_check.sh inside: systemctl start (Type=notify, Delegate=yes), the sine
# example, MEMORY_LIMIT from memory.events, pids and CPU limits, reload and stop with a request in
# flight, the journal. The guest reports on its serial console; this script passes on its
# "SBXD-VM: RESULT PASS" marker.
#
#   vm_debian12_test.sh BUILD_DIR
#
# Disks (virtio): vda the Debian root (built once from Debian packages by vm/build_vm_image.sh,
# cached machine-wide in SANDBOXD_VM_CACHE (default /var/cache/sandboxd-vm, like the runtime images
# in /var/lib/sandboxd, so a fresh clone reuses it), booted with snapshot=on so it stays clean);
# vdb the host's
# python3.11 runtime image (/var/lib/sandboxd/images/python3.11 as an ext4 disk, cached while the
# image is unchanged), read-only; vdc this run's payload (the .deb and guest_check.sh), read-only.
# The guest has no network device.
#
# Acceleration: TCG (-accel tcg,thread=multi -cpu max) unless SANDBOXD_VM_ACCEL=kvm: the /dev/kvm
# of the development machines is a paravirtual one that does not boot Debian's kernel.
# SANDBOXD_VM_LIMIT_S bounds the guest's run (default 1200 s).
set -uo pipefail

build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
say() { printf 'vm-test: %s\n' "$*"; }
skip() { say "SKIP: $*"; exit 77; }
die() { say "FAIL: $*"; exit 1; }
now() { date +%s; }
t_start=$(now)

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, mkfs.ext4 -d of root-owned images)"

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]} (scripts/setup.sh installs them)"
  export DEBIAN_FRONTEND=noninteractive
  timeout 900 apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
    { timeout 900 apt-get update -qq && timeout 900 apt-get install -y -qq "${need[@]}" >/dev/null; } ||
    die "cannot install ${need[*]}"
fi

host_image=/var/lib/sandboxd/images/python3.11
[ -f "$host_image/manifest.sha256" ] ||
  die "no python3.11 image at $host_image (runtime_images/build-image python3.11)"

cache=${SANDBOXD_VM_CACHE:-/var/cache/sandboxd-vm}
mkdir -p "$cache" "$build/packaging/vm"

run=$(mktemp -d "$build/packaging/vm/run.XXXXXX")
trap 'rm -rf "$run"' EXIT
mkdir "$run/payload"

# --- the .deb and what it depends on ------------------------------------------------------------
t0=$(now)
deb=$("$here/build_deb.sh" "$build" "$run/payload") || die "building the .deb failed"
t_deb=$(( $(now) - t0 ))
depends=$(dpkg-deb -f "$deb" Depends)
# The first of each alternative, without its version: the packages the guest must already hold.
mapfile -t dep_packages < <(tr ',' '\n' <<<"$depends" | sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' | grep -v '^$')
say "$(basename "$deb") ($(du -h "$deb" | cut -f1), ${t_deb} s): Depends: $depends"

# --- the cached disks ------------------------------------------------------------------------------
t0=$(now)
image=$("$here/vm/build_vm_image.sh" "$cache" "${dep_packages[@]}") || die "building the VM image failed"
t_image=$(( $(now) - t0 ))

# The runtime image as a disk, rebuilt when the host's image changes (its manifest hash and lock).
t0=$(now)
images_key=$(cat "$host_image/manifest.sha256" "$host_image/packages.lock" | sha256sum | cut -c1-16)
images_disk=$cache/python3.11-$images_key.ext4
(
  flock 9
  if [ ! -f "$images_disk" ]; then
    rm -f "$cache"/python3.11-*.ext4 "$cache"/python3.11.stage.ext4
    size_mb=$(( $(du -sm "$host_image" | cut -f1) * 5 / 4 + 64 ))
    truncate -s "${size_mb}M" "$cache/python3.11.stage.ext4"
    mkfs.ext4 -q -F -L sbxd-images -d "$host_image" "$cache/python3.11.stage.ext4" ||
      { rm -f "$cache/python3.11.stage.ext4"; exit 1; }
    mv "$cache/python3.11.stage.ext4" "$images_disk"
  fi
) 9>"$cache/images.lock" || die "making the runtime image disk failed"
t_images=$(( $(now) - t0 ))
say "disks: $(basename "$image") (${t_image} s), $(basename "$images_disk") (${t_images} s)"

# --- this run ----------------------------------------------------------------------------------------
cp "$here/vm/guest_check.sh" "$run/payload/"
truncate -s $(( $(du -sm "$run/payload" | cut -f1) + 32 ))M "$run/payload.ext4"
mkfs.ext4 -q -F -L sbxd-payload -d "$run/payload" "$run/payload.ext4" || die "making the payload disk failed"

accel=(-accel tcg,thread=multi -cpu max)
[ "${SANDBOXD_VM_ACCEL:-tcg}" = kvm ] && accel=(-accel kvm -cpu host)
limit=${SANDBOXD_VM_LIMIT_S:-1200}
console=$run/console.log
say "booting Debian 12 (${accel[*]}, 2 CPUs, 4 GiB, no network; at most ${limit} s)"
t0=$(now)
# The VM dies with this script: QEMU and timeout both get SIGKILL when their parent dies, even when
# CTest kills the script. snapshot=on keeps the cached root clean (writes go to $TMPDIR).
TMPDIR=$run setpriv --pdeathsig KILL -- timeout --signal=KILL "$limit" \
  setpriv --pdeathsig KILL -- qemu-system-x86_64 "${accel[@]}" -smp 2 -m 4096 \
    -nodefaults -no-user-config -display none -no-reboot \
    -serial "file:$console" \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 quiet loglevel=3 systemd.show_status=0 panic=-1" \
    -drive "file=$image/root.ext4,format=raw,if=virtio,snapshot=on" \
    -drive "file=$images_disk,format=raw,if=virtio,readonly=on" \
    -drive "file=$run/payload.ext4,format=raw,if=virtio,readonly=on" \
    -device virtio-rng-pci \
    >"$run/qemu.log" 2>&1
qemu_rc=$?
t_vm=$(( $(now) - t0 ))

echo
grep -a 'SBXD-VM:' "$console" | sed 's/\r$//'
echo
if [ "$qemu_rc" = 137 ]; then
  say "the VM did not power off within ${limit} s (SANDBOXD_VM_LIMIT_S)"
elif [ "$qemu_rc" != 0 ]; then
  say "qemu exited $qemu_rc:"; cat "$run/qemu.log"
fi
if ! grep -aq 'SBXD-VM: RESULT' "$console"; then
  say "no result from the guest; the console's last lines:"
  tail -n 60 "$console" | sed 's/\r$//; s/^/    /'
fi
say "times: .deb ${t_deb} s, Debian image ${t_image} s, runtime image disk ${t_images} s, VM boot to power-off ${t_vm} s, total $(( $(now) - t_start )) s"
grep -aq 'SBXD-VM: RESULT PASS' "$console" || die "the checks inside the VM did not pass"
say "PASS"

#!/usr/bin/env bash
# The .deb as CPack builds it (packaging/cpack.cmake): the files an operator needs are in it, at
# this build's install paths, its Depends name the runtime libraries (dpkg-shlibdeps) and
# debootstrap, and its maintainer scripts make the system user and the folders.
#
#   deb_contents_test.sh BUILD_DIR
set -uo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
say() { printf 'deb-test: %s\n' "$*"; }
failures=0
ok() { say "ok   $*"; }
bad() { failures=$((failures + 1)); say "FAIL $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

ctrl=$(mktemp -d)
trap 'rm -rf "$ctrl"' EXIT
deb=$("$here/build_deb.sh" "$build" "$ctrl") || { say "FAIL: building the .deb"; exit 1; }
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
say "$deb ($(du -h "$deb" | cut -f1)), prefix $prefix"
contents=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|')
has() { grep -qxE "$1" <<<"$contents"; }
for f in "$prefix/sbin/sandboxd" "$prefix/bin/sandboxctl" "$prefix/sbin/sandboxd-build-image" \
         "$prefix/libexec/sandboxd/sandboxd-unpack" "$prefix/libexec/sandboxd/build-image" \
         "$prefix/lib/systemd/system/sandboxd.service" \
         "$prefix/etc/sandboxd/sandboxd.conf" "$prefix/etc/sandboxd/sandbox.seccomp" \
         "$prefix/etc/sandboxd/callout.json" \
         "$prefix/share/sandboxd/runtime/runner.py" \
         "$prefix/share/sandboxd/images/python3.11/manifest" \
         "$prefix/share/sandboxd/images/python3.11-ml/manifest" \
         "$prefix/lib/sandboxd/zygote/_sandboxd_zygote.cpython-311-x86_64-linux-gnu.so" \
         "$prefix/lib/cmake/sandboxdClient/sandboxdClientConfig.cmake" \
         "$prefix/lib/pkgconfig/sandboxd-client.pc" "$prefix/include/sandboxd/client.h"; do
  check "holds $f" has "$f"
done
unit=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ".$prefix/lib/systemd/system/sandboxd.service")
check "the unit starts $prefix/sbin/sandboxd with $prefix/etc/sandboxd/sandboxd.conf as user sandboxd" \
  grep -qx "ExecStart=$prefix/sbin/sandboxd --config $prefix/etc/sandboxd/sandboxd.conf --user sandboxd" <<<"$unit"

depends=$(dpkg-deb -f "$deb" Depends)
say "Depends: $depends"
for p in libc6 libstdc++6 libprotobuf32 libseccomp2 libcap2 libsystemd0 libcurl4 libzip4 libfmt9 \
         libspdlog1.10 debootstrap adduser; do
  check "Depends on $p" grep -qE "(^|, )$(sed 's/[.+]/\\&/g' <<<"$p")[ ,(-]?" <<<"$depends"
done

dpkg-deb -e "$deb" "$ctrl/control"
check "postinst makes the system user sandboxd" grep -q 'adduser --system --group' "$ctrl/control/postinst"
check "postinst makes /var/lib/sandboxd/images" grep -q '/var/lib/sandboxd/images' "$ctrl/control/postinst"
check "the maintainer scripts are executable and pass sh -n" \
  sh -c "for s in postinst prerm postrm; do [ -x '$ctrl/control/'\$s ] && sh -n '$ctrl/control/'\$s || exit 1; done"
check "conffiles: sandboxd.conf and sandbox.seccomp" \
  sh -c "grep -qx '$prefix/etc/sandboxd/sandboxd.conf' '$ctrl/control/conffiles' && grep -qx '$prefix/etc/sandboxd/sandbox.seccomp' '$ctrl/control/conffiles'"
[ "$failures" = 0 ] && say "PASS" || { say "$failures failing"; exit 1; }

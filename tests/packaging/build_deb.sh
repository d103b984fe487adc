#!/usr/bin/env bash
# Builds the .deb of a build folder with CPack (packaging/cpack.cmake), copies it into DEST_DIR
# and prints the copy's path:
#   build_deb.sh BUILD_DIR DEST_DIR   ->  DEST_DIR/sandboxd_<version>_amd64.deb
# One cpack at a time per build folder (the packaging and vm tests both call it, maybe at once):
# each caller gets its own copy, made under the lock. The log is BUILD_DIR/packaging/deb/cpack.log.
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR DEST_DIR}" && pwd)
dest=$(cd "${2:?usage: $0 BUILD_DIR DEST_DIR}" && pwd)
out=$build/packaging/deb
mkdir -p "$out"
exec 7>"$out/.lock"
flock 7
[ -f "$build/CPackConfig.cmake" ] || { echo "build_deb: $build has no CPackConfig.cmake" >&2; exit 1; }
rm -f "$out"/sandboxd_*.deb
if ! (cd "$build" && cpack -G DEB --config CPackConfig.cmake) >"$out/cpack.log" 2>&1; then
  tail -n 30 "$out/cpack.log" >&2
  echo "build_deb: cpack -G DEB failed (log: $out/cpack.log)" >&2
  exit 1
fi
deb=$(ls "$out"/sandboxd_*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || { echo "build_deb: cpack wrote no sandboxd_*.deb into $out" >&2; exit 1; }
cp "$deb" "$dest/"
echo "$dest/$(basename "$deb")"

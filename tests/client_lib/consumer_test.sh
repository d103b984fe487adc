#!/usr/bin/env bash
# Installs the project into a scratch prefix, builds an engine-like consumer against the installed
# sandboxdClient CMake package, and checks it links none of the daemon's dependencies.
set -euo pipefail
build_dir=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$source_dir" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer"
if ldd "$work/build/consumer" | grep -E 'seccomp|curl|boost|libzip|libcap'; then
  echo "the client links a daemon dependency" >&2
  exit 1
fi
echo "consumer built and linked against the installed sandboxdClient package"

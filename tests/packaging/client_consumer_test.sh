#!/usr/bin/env bash
# The client library as an engine's build finds it: installs only the `client` component of the
# build into a staging prefix (cmake --install BUILD --component client --prefix STAGE), then
# builds tests/packaging/consumer twice against it, with find_package(sandboxdClient) and with
# `pkg-config sandboxd-client`, and runs both binaries (UNAVAILABLE from a missing socket).
#
#   client_consumer_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
src=$(cd "$(dirname "$0")/consumer" && pwd)
work=$(mktemp -d "$build/packaging/consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
say() { printf 'consumer-test: %s\n' "$*"; }

stage=$work/stage
cmake --install "$build" --component client --prefix "$stage" >"$work/install.log"
say "staged the client component: $(find "$stage" -type f | sed "s|$stage/||" | grep -E '\.(a|pc|cmake)$' | sort | paste -sd' ' -)"
# Nothing of the daemon is in the client component.
if find "$stage" -path '*sbin*' -o -name 'sandboxd.conf' | grep -q .; then
  say "FAIL: the client component holds daemon files"; exit 1
fi

say "find_package(sandboxdClient) with CMAKE_PREFIX_PATH=$stage"
cmake -S "$src" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$stage" >"$work/cmake.log" 2>&1 ||
  { cat "$work/cmake.log"; exit 1; }
cmake --build "$work/cmake-build" >>"$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; exit 1; }
"$work/cmake-build/consumer"

pc_dir=$(dirname "$(find "$stage" -name sandboxd-client.pc)")
say "pkg-config sandboxd-client with PKG_CONFIG_PATH=$pc_dir"
flags=$(PKG_CONFIG_PATH=$pc_dir pkg-config --cflags --libs sandboxd-client)
say "  $flags"
# shellcheck disable=SC2086 # the flags are words
c++ -std=c++20 -Wall -Wextra -Werror "$src/consumer.cc" -o "$work/consumer-pc" $flags
"$work/consumer-pc"
say "PASS: both builds link the staged library and run"

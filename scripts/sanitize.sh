#!/usr/bin/env bash
# The sanitizer build: the daemon, its launcher and the tests built with AddressSanitizer and
# UndefinedBehaviorSanitizer into build-asan/, then the integration and security suites run
# against it. The zygote's extension comes from the normal build (build/, scripts/setup.sh),
# since it loads into the image's uninstrumented Python.
#
#   scripts/sanitize.sh             # build, then ctest -L 'integration|security' in build-asan
#   scripts/sanitize.sh -R Execute  # more ctest arguments
#
# A sanitizer report ends the instrumented process (halt_on_error), so the request or daemon it
# happened in fails its test; reports go to the daemon's stderr (each test's log).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d build/zygote ]; then
  echo "sanitize: build/zygote is missing; run scripts/setup.sh first" >&2
  exit 1
fi
cmake -S . -B build-asan -DSANDBOXD_SANITIZE=ON -DSANDBOXD_ZYGOTE_DIR="$PWD/build/zygote" \
  -DSANDBOXD_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# Not here: the packaging tests (they install this tree's binaries into a container, and a
# consumer build links the installed, instrumented library without the sanitizer runtime).
if [ $# -eq 0 ]; then
  set -- -L 'integration|security' -E '^(client_package_consumer|packaging_.*)$'
  # Only what these suites run is compiled: their test binaries, as the normal tree lists them,
  # and what those depend on (the daemon, sandboxctl, the unpack helper).
  mapfile -t targets < <(ctest --test-dir build -N "$@" --show-only=json-v1 | python3 -c '
import json, os, sys
build = os.path.realpath("build")
names = set()
for test in json.load(sys.stdin).get("tests", []):
    command = test.get("command") or [""]
    if os.path.realpath(command[0]).startswith(build + "/"):
        names.add(os.path.basename(command[0]))
print("\n".join(sorted(names)))')
  if [ ${#targets[@]} -eq 0 ]; then
    echo "sanitize: the normal tree (build/) lists no test of these suites" >&2
    exit 1
  fi
  cmake --build build-asan -j"$(nproc)" --target sandboxd sandboxd-unpack sandboxctl \
    "${targets[@]}" >/dev/null
else
  cmake --build build-asan -j"$(nproc)" >/dev/null
fi
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=0:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# The nested ctest dies with this script (CTest kills only the test's own process at its
# TIMEOUT), and its test binaries die with it (tests/sandboxd/leftover_guard.h).
exec setpriv --pdeathsig KILL -- ctest --test-dir build-asan --output-on-failure -j2 "$@"

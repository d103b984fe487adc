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
cmake --build build-asan -j"$(nproc)" >/dev/null
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=0:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# Not here: the packaging tests (they install this tree's binaries into a container, and a
# consumer build links the installed, instrumented library without the sanitizer runtime).
if [ $# -eq 0 ]; then
  set -- -L 'integration|security' -E '^(client_package_consumer|packaging_.*)$'
fi
ctest --test-dir build-asan --output-on-failure -j2 --timeout 900 "$@"

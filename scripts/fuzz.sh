#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz: clang, ASan, UBSan) into build-fuzz/ and runs each
# for a while on its seed corpus. Prints one line per target: executions, corpus size, result.
#
#   scripts/fuzz.sh                 # every target, 20 s each (CI runs this through ctest)
#   scripts/fuzz.sh --seconds 3600 sbxt_validator frame_request   # a long run of some targets
#   scripts/fuzz.sh --runs 10000000 csv   # until 10 M executions (no time bound)
#
# New inputs go to build-fuzz/corpus/<target>/ (the seeds in tests/fuzz/corpus/ stay as they
# are); a finding stops the target, leaves its input as build-fuzz/findings/<target>/crash-*,
# and makes the script fail.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=20
runs_wanted=-1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs_wanted="$2"; seconds=0; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  targets=(frame_request typeof csv sbxt_validator json_depth bundle callout_policy seccomp_policy
           columns_native)
fi

CC=clang CXX=clang++ cmake -S . -B build-fuzz -DSANDBOXD_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null

status=0
printf '%-16s %14s %8s %s\n' target executions corpus result
for t in "${targets[@]}"; do
  corpus="build-fuzz/corpus/$t"
  findings="build-fuzz/findings/$t"
  mkdir -p "$corpus" "$findings"
  log="build-fuzz/fuzz-$t.log"
  # -rss_limit_mb and -timeout turn a blow-up or a hang into a finding too.
  # The fuzzer dies with this script (CTest kills only the test's own process at its TIMEOUT).
  if setpriv --pdeathsig KILL -- build-fuzz/tests/fuzz/"$t"_fuzz -max_total_time="$seconds" -runs="$runs_wanted" -timeout=10 \
       -rss_limit_mb=2048 -max_len=1048576 -print_final_stats=1 \
       -artifact_prefix="$findings/" "$corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    result=ok
  else
    result="FINDING (see $log and $findings/)"
    status=1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  size=$(find "$corpus" -type f | wc -l)
  printf '%-16s %14s %8s %s\n' "$t" "${runs:-?}" "$size" "$result"
done
exit "$status"

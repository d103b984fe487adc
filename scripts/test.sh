#!/usr/bin/env bash
# The README's second command: set up, then run every test (unit, integration, security,
# artifacts, ml, load, soak, fuzz, sanitize, packaging, vm) and print the security probe table. Every test has a TIMEOUT of
# its own (tests/check_timeouts.py holds that); what a test starts dies with it
# (tests/sandboxd/leftover_guard.h).
set -euo pipefail
cd "$(dirname "$0")/.."
# What an earlier run left behind, if it was killed midway (its process group, its cgroups).
scripts/clear-test-leftovers.sh
scripts/setup.sh
status=0
# The suite runs as a process group of its own, recorded in build/.suite-run, so that the next
# run can clear it as a whole if this one is killed, and an interrupt here stops all of it. It
# runs in the background so that this shell's trap runs at once (bash runs a trap only after the
# foreground command ends).
trap '[ -f build/.suite-run ] && kill -TERM -- "-$(cut -d" " -f1 build/.suite-run)" 2>/dev/null
      rm -f build/.suite-run; exit 130' INT TERM
setsid --wait bash -c '
  echo "$$ $(sed -n "s/^.*) //p" /proc/$$/stat | cut -d" " -f20)" > build/.suite-run
  ctest "$@" 2>&1 | tee build/ctest.log
  exit "${PIPESTATUS[0]}"' suite --test-dir build --output-on-failure -j2 "$@" &
wait "$!" || status=$?
rm -f build/.suite-run
table=build/tests/security/security_probes_table.txt
if [ -f "$table" ]; then
  echo
  echo "Security probes (tests/security, SECURITY_PROBES.md groups A-I):"
  cat "$table"
  echo
  # CTest's own verdict stays the last word.
  grep -E "tests passed|tests failed" build/ctest.log | tail -n 1
fi
exit "$status"

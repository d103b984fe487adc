#!/usr/bin/env bash
# The README's second command: set up, then run every test (unit, integration, security,
# artifacts) and print the security probe table.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
status=0
ctest --test-dir build --output-on-failure -j2 --timeout 900 "$@" | tee build/ctest.log || status=$?
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

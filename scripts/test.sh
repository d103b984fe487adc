#!/usr/bin/env bash
# The README's second command: set up, then run every test (unit, integration, security,
# artifacts) and print the security probe table.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --test-dir build --output-on-failure -j2 --timeout 900 "$@"

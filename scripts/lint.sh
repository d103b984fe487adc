#!/usr/bin/env bash
# clang-format and clang-tidy over the project's sources (after scripts/setup.sh built build/).
# clang-tidy takes ~30 s of CPU per file, so it is not part of scripts/test.sh; the format check is
# (CTest test `clang_format`).
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.cc' '*.h')
clang-format --dry-run -Werror $files
git ls-files '*.cc' | grep -v '^tests/' | xargs -P"$(nproc)" -n4 clang-tidy -p build --quiet

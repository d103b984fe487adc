#!/usr/bin/env bash
# Shared by demo.sh and test.sh: installs what a fresh Debian 12 lacks, builds into build/,
# installs sandboxd and sandboxctl on the PATH, and builds the runtime images.
# Idempotent: a second run only rebuilds what changed (the image is reused while its manifest
# is unchanged).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "run as root: sandboxd maps sandbox uids and builds images with debootstrap" >&2
  exit 1
fi

packages=(build-essential cmake pkg-config protobuf-compiler libprotobuf-dev libboost-dev
  libseccomp-dev libcap-dev libzip-dev libcurl4-openssl-dev libsystemd-dev libgtest-dev
  libgmock-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  debootstrap python3 python3-numpy python3-pandas clang-format clang-tidy
  libssl-dev openssl python3-dev python3-sklearn bubblewrap clang libclang-rt-14-dev ccache
  prometheus  # promtool checks the metrics exposition (its server is not started here)
  postgresql-15 postgresql-server-dev-15 libpq-dev)  # the PostgreSQL extension and its tests
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  timeout 900 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 1800 apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The VM test (tests/packaging/vm_debian12_test.sh, label vm) boots Debian 12 under QEMU; without
# the recommends (a GUI, firmware for other architectures).
vm_packages=(qemu-system-x86 qemu-utils e2fsprogs)
vm_missing=()
for p in "${vm_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || vm_missing+=("$p")
done
if [ ${#vm_missing[@]} -gt 0 ]; then
  echo "setup: installing ${vm_missing[*]}"
  timeout 900 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 1800 apt-get install -y -qq --no-install-recommends \
    "${vm_missing[@]}" >/dev/null
fi

# The artifact tests run against Azurite (the Azure Storage emulator) from the npm registry,
# installed into the build tree, not globally.
if ! command -v npm >/dev/null; then
  echo "setup: installing nodejs npm"
  timeout 900 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 1800 apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -x build/azurite/node_modules/.bin/azurite-blob ]; then
  echo "setup: installing azurite into build/azurite"
  mkdir -p build/azurite
  (cd build/azurite && timeout 900 npm install --no-audit --no-fund --loglevel=error azurite@3.35.0 >/dev/null)
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
cmake --install build >/dev/null
# The default image, and the deep-learning one (torch, xgboost, matplotlib, ...; the `ml` tests).
# --rebuild replaces an image only when its manifest changed (an up-to-date one is kept).
# Each step has a bound (a stuck mirror fails the setup instead of hanging it): an image takes
# 5-16 minutes on a loaded 2-core machine.
timeout 3600 runtime_images/build-image python3.11 --rebuild
timeout 3600 runtime_images/build-image python3.11-ml --rebuild

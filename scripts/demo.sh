#!/usr/bin/env bash
# The README's first command: set up, start a daemon, run the seed's sine example.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

socket=/run/sandboxd/sandboxd.sock
if ! sandboxctl images --socket "$socket" >/dev/null 2>&1; then
  mkdir -p /run/sandboxd
  nohup sandboxd --foreground --socket "$socket" >/var/log/sandboxd-demo.log 2>&1 &
  for _ in $(seq 100); do
    sandboxctl images --socket "$socket" >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "demo: sandboxd started (pid $!, log /var/log/sandboxd-demo.log)"
fi

sandboxctl run --socket "$socket" \
  --range 'x from 1 to 360 step 1' \
  --schema 'typeof(*, fx:double)' \
  --params '{"gain": 100, "cycles": 4}' \
  --format table \
  --script-text '
result = df
n = df.shape[0]
g = kargs["gain"]
f = kargs["cycles"]
result["fx"] = g * np.sin(df["x"]/n*2*np.pi*f)
'

#!/usr/bin/env bash
# Clears what an earlier run of the test suite left behind, so that a machine a killed run left
# behind passes the next run (issue 22). Only the suite's own things, never processes picked by
# name:
#  - the process group of the last `scripts/test.sh` run (build/.suite-run: its id and its
#    leader's start time, so that a reused id is never taken for it), killed as a whole;
#  - cgroup groups the test fixtures name `sandboxd-<what>-<test pid>[-...]` whose test process
#    is gone (a running suite's are kept): the sandboxes still in them are killed, the groups
#    removed.
# Each test's own LeftoverGuard (tests/sandboxd/leftover_guard.h) already does this for a test
# that dies; this is for a run killed as a whole, guards included.
set -uo pipefail
cd "$(dirname "$0")/.."

start_time() {  # field 22 of /proc/PID/stat, read past the command name's parenthesis
  sed -n 's/^.*) //p' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'
}

if [ -f build/.suite-run ]; then
  read -r pgid started < build/.suite-run || true
  if [ -n "${pgid:-}" ] && [ "$pgid" -gt 1 ] 2>/dev/null; then
    now=$(start_time "$pgid")
    # The leader gone: the id cannot have been reused while members of the group live on.
    if [ -z "$now" ] || [ "$now" = "${started:-}" ]; then
      if kill -KILL -- "-$pgid" 2>/dev/null; then
        echo "clear-test-leftovers: killed the process group $pgid of an earlier run"
      fi
    fi
  fi
  rm -f build/.suite-run
fi

removed=0
for group in /sys/fs/cgroup/*/sandboxd-*-* /sys/fs/cgroup/sandboxd-*-*; do
  [ -d "$group" ] || continue
  owner=""
  IFS=- read -ra parts <<<"$(basename "$group")"
  for part in "${parts[@]:1}"; do
    if [[ "$part" =~ ^[0-9]+$ ]]; then owner=$part; break; fi
  done
  [ -n "$owner" ] || continue
  state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$owner/status" 2>/dev/null)
  if [ -n "$state" ] && [ "$state" != Z ]; then continue; fi  # its test still runs
  for attempt in $(seq 50); do
    while read -r dir; do
      for pid in $(cat "$dir/cgroup.procs" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
      rmdir "$dir" 2>/dev/null
    done < <(find "$group" -depth -type d 2>/dev/null)
    [ -d "$group" ] || break
    sleep 0.1
  done
  if [ -d "$group" ]; then
    echo "clear-test-leftovers: could not remove $group" >&2
  else
    removed=$((removed + 1))
  fi
done
[ "$removed" -eq 0 ] || echo "clear-test-leftovers: removed $removed cgroup groups of earlier runs"
exit 0

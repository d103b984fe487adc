"""The Python runner: runs one user script inside a sandbox (runtime_images/RUNNER.md).

Started by the sandbox's init as

    /usr/bin/python3 -I -B /sandbox/runtime/runner.py [--preload=MODULE ...]

(one --preload per module of the image manifest's `preload:` line, imported before the runner
reads its request; one that fails is logged to stderr and skipped) with the control document on
fd 3, the input table on fd 4, the output memfd on fd 5 and the events pipe on fd 6. The work is
in the sandboxd_runtime package beside this file:

- main.py: the run and its error codes. The script is compiled as "script.py" (tracebacks and
  log records point there, with only the script's and its libraries' frames) and runs as the
  __main__ module with df, kargs, np and pd bound. SystemExit, even sys.exit(0), is a
  SCRIPT_ERROR: Kusto reads `result` when the script ends, and an exit skips that.
- frames.py: the type mapping both ways, every choice written out in its docstring. In short:
  nullable pandas dtypes only when a column holds nulls; zero-copy numpy views for fixed-width
  columns; datetimes/timespans beyond pandas' nanosecond range as exact KustoDateTime /
  KustoTimeDelta objects; results converted only when lossless (NaN is written as null, sub-tick
  nanoseconds are truncated toward negative infinity as Kusto does, numbers in a string column
  are written as str() writes them), otherwise SCHEMA_MISMATCH naming the column, the expected
  and the found type.
- events.py: the events pipe and a Kusto-style buffering logging handler on the root logger
  (level INFO; capacity 1000 records, flushed at ERROR and at the end). At most 10000 records
  or 1 MiB of messages, unless the control document's optional `max_log_records` /
  `max_log_bytes` say otherwise; one last record tells how many more were dropped.
"""

import os
import sys

# -I keeps this file's folder off sys.path; the runtime's packages (sandboxd_runtime,
# sandbox_utils) live in it. First, so a script's own files cannot shadow them.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The runner's C loops (_sandboxd_columns), mounted here when the image has the folder; a
# zygote's children have them loaded already.
if os.path.isdir("/sandbox/lib"):
    sys.path.append("/sandbox/lib")

from sandboxd_runtime.main import main  # noqa: E402

if __name__ == "__main__":
    # os._exit: threads the script left running and its atexit hooks must not outlive the final
    # event, nor delay the exit the daemon is waiting for.
    os._exit(main())

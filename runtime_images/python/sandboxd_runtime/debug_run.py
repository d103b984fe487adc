#!/usr/bin/env python3
"""Reproduces one sandboxd call (sandboxctl run --debug DIR copies this file to DIR/run.py).

    python3 run.py          # df from input.sbxt, kargs from kargs.json, runs script.py, prints result
    python3 run.py --csv    # the same, `result` printed as CSV

Edit script.py or kargs.json and run it again. df is built by the runner's own code (the copy in
sandboxd_runtime/ beside this file), so it has the dtypes, values, nulls and index the sandbox
gave the script; see sandboxd_runtime/debug_repro.py for what is and is not reproduced.
"""

import os
import sys

# The sandbox runs with -B; keep the folder as it was written.
sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
# First, as in the sandbox: the runner's modules, not others of the same name on this machine.
sys.path.insert(0, HERE)

from sandboxd_runtime import debug_repro  # noqa: E402

if __name__ == "__main__":
    sys.exit(debug_repro.run_folder(HERE, sys.argv[1:]))

"""The sandbox's view of its own limits (RUNNER.md, "Limits the script sees").

The sandbox's init keeps /proc/meminfo in step with the memory cgroup (MemTotal is the limit,
MemFree and MemAvailable what is left of it), refreshing it a few times a second. A warm sandbox
was launched with the node's limit and has it lowered when a request asks for less, after the
runner started; so before the script runs, the runner asks init, over the doorbell on fd 8, to
refresh the file now, and waits for its answer. Then it closes the doorbell: the script never
sees it.
"""

import os
import select
import stat

DOORBELL_FD = 8
_WAIT_SECONDS = 2.0


def refresh_view():
    """Asks init to rewrite /proc/meminfo from the cgroup now; closes the doorbell."""
    try:
        if not stat.S_ISSOCK(os.fstat(DOORBELL_FD).st_mode):
            return  # not init's socket: leave it alone
    except OSError:
        return  # not in a sandbox (the runner's own tests)
    try:
        os.write(DOORBELL_FD, b"r")
        ready, _, _ = select.select([DOORBELL_FD], [], [], _WAIT_SECONDS)
        if ready:
            os.read(DOORBELL_FD, 1)
    except OSError:
        pass  # init refreshes on its own schedule too; a stale MemFree is no reason to fail
    finally:
        os.close(DOORBELL_FD)

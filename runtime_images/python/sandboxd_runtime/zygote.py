"""The zygote's Python side: import once, fork many (runtime_images/python/zygote.py).

What a fork shares must not cross requests (probe I4): each child reseeds `random` (also done by
CPython's own fork hook) and numpy's global generator from the kernel, and draws fresh names for
`tempfile`; uuid4 and secrets read the kernel's entropy anyway. The address layout and the hash
seed are shared by every child of one zygote: an accepted risk (tests/security/SECURITY.md),
bounded by restarting zygotes on SIGHUP and every hour.
"""

import errno
import os
import random
import sys
import tempfile

LAUNCHER_FD = 3
MODULE_DIR = "/sandbox/work"  # the extension's folder, until it is loaded


def _load_extension():
    sys.path.insert(0, MODULE_DIR)
    try:
        import _sandboxd_zygote
        # The runner's per-cell loops (frames.py): loaded here, as the folder goes away below.
        import _sandboxd_columns  # noqa: F401
    finally:
        sys.path.remove(MODULE_DIR)
    _sandboxd_zygote.detach(MODULE_DIR)
    return _sandboxd_zygote


def _refuse(message):
    """Tells the launcher why this zygote cannot start, in the frame its extension would send.

    The extension is what failed, so the frame (a little-endian length, then a LaunchReply whose
    only field is 3, `error`) is written by hand: the daemon names the cause in its warning.
    """
    import struct

    error = message.encode("utf-8", "replace")[:4000]
    length, varint = len(error), b""
    while True:
        byte = length & 0x7F
        length >>= 7
        varint += bytes([byte | (0x80 if length else 0)])
        if not length:
            break
    payload = b"\x1a" + varint + error
    try:
        os.write(LAUNCHER_FD, struct.pack("<I", len(payload)) + payload)
    except OSError:
        pass  # the launcher is gone: it sees the zygote end either way


def _pool_controller():
    """threadpoolctl's view of the loaded BLAS and OpenMP libraries, found once, in the zygote.

    Finding them walks every loaded library (~7 ms); setting a pool's size through the
    controller found here costs a child well under a millisecond.
    """
    try:
        from threadpoolctl import ThreadpoolController
        return ThreadpoolController()
    except Exception as error:  # noqa: BLE001 -- without it, pools stay at one thread
        print(f"sandboxd zygote: no threadpoolctl: {error!r}", file=sys.stderr, flush=True)
        return None


def _become_request_process(env, cpu_count, pools):
    """In the UDF, confined: the request's environment, fresh random state, CPU-sized pools."""
    os.environ.clear()
    for item in env:
        name, _, value = item.partition("=")
        os.environ[name] = value
    random.seed()
    import numpy as np
    np.random.seed()
    tempfile._name_sequence = None  # noqa: SLF001 -- drawn again from the reseeded `random`
    if cpu_count > 1 and pools is not None:  # the zygote's pools have one thread already
        try:
            pools.limit(limits=cpu_count)
        except Exception as error:  # noqa: BLE001 -- a pool size is no reason to fail the request
            print(f"sandboxd runner: thread pools stay at one thread: {error}", file=sys.stderr)

# What a typical request does, on a synthetic table: every type's way in and out, and the pandas
# and numpy operations Kusto scripts use most.
_WARM_UP_COLUMNS = [("x", "long"), ("y", "real"), ("b", "bool"), ("t", "datetime"),
                    ("d", "timespan"), ("s", "string"), ("j", "dynamic"), ("fx", "real")]
_WARM_UP_SCRIPT = """
result = df
result['fx'] = 100 * np.sin(df['x'] / len(df) * 2 * np.pi * 4)
result['s'] = result['s'].str.upper() + df['x'].astype(str)
result['y'] = result.groupby(df['x'] % 2)['y'].transform('sum')
result = result.sort_values('x').reset_index(drop=True)
"""


_MFD_NOEXEC_SEAL = 0x0008  # Linux 6.3+; the sandbox's seccomp policy asks for it there


def _scratch_memfd():
    try:
        return os.memfd_create("sandboxd-warm-up", os.MFD_CLOEXEC | _MFD_NOEXEC_SEAL)
    except OSError as error:
        if error.errno != errno.EINVAL:  # EINVAL: a kernel without the flag (Debian 12's 6.1)
            raise
        return os.memfd_create("sandboxd-warm-up", os.MFD_CLOEXEC)


def _run_synthetic_request(runner):
    """The runner's whole path once, on a synthetic table: never request data."""
    import numpy as np
    import pandas as pd
    from . import frames, sbxt

    rows = 10
    frame = pd.DataFrame({
        "x": np.arange(1, rows + 1, dtype=np.int64), "y": np.linspace(0.0, 1.0, rows),
        "b": [True, False] * (rows // 2),
        "t": pd.date_range("2020-01-01", periods=rows, freq="h"),
        "d": pd.to_timedelta(np.arange(rows), unit="s"), "s": list("abcdefghij"),
        "j": [{"k": i} for i in range(rows)], "fx": np.zeros(rows)})
    main_module, argv = sys.modules.get("__main__"), list(sys.argv)
    try:
        for_input = [(name, kind) for name, kind in _WARM_UP_COLUMNS if name != "fx"]
        table_rows, columns = frames.encode_result(frame[[n for n, _ in for_input]], for_input,
                                                   1 << 20)
        fd = _scratch_memfd()
        try:
            sbxt.write_table(fd, table_rows, columns)
            df = frames.read_input(fd)
        finally:
            os.close(fd)
        result = runner.run_script(_WARM_UP_SCRIPT, df, {})
        table_rows, columns = frames.encode_result(result, _WARM_UP_COLUMNS, 1 << 20)
        fd = _scratch_memfd()
        try:
            sbxt.write_table(fd, table_rows, columns)
        finally:
            os.close(fd)
    except Exception as error:  # noqa: BLE001 -- a slower request is no reason not to serve
        print(f"sandboxd zygote: warm-up failed: {error!r}", file=sys.stderr, flush=True)
    finally:
        sys.modules["__main__"] = main_module
        sys.argv[:] = argv
        import linecache
        linecache.cache.pop(runner.SCRIPT_FILENAME, None)


def _warm_up(runner):
    """Runs the runner's whole path once, in the zygote, after its first fork.

    pandas, numpy and the runner set up much on first use (submodule imports, ufunc loops, dtype
    caches); done here, in the zygote, every child starts past it instead of paying for it in its
    request.
    """
    _run_synthetic_request(runner)
    import gc
    gc.collect()
    # Objects that survive the zygote's life need no collection in every child: freezing them
    # keeps the collector off their (shared) pages after each fork.
    gc.freeze()


def serve():
    """The zygote's life; returns in each UDF only after its request, with its exit status."""
    # First, before seconds of imports: an image that lacks what the extension links (the
    # runtime packages build-image adds) fails at once, and says so.
    try:
        zygote = _load_extension()
    except ImportError as error:
        _refuse(f"cannot load the zygote's extension: {error} (the image lacks a library the "
                "zygote needs; rebuild it with runtime_images/build-image)")
        return 1
    from . import main as runner  # numpy, pandas and the whole runner

    runner.preload(sys.argv[1:])
    import sandbox_utils.zipackage  # noqa: F401 -- every request sets it up (prepare_artifacts)
    pools = _pool_controller()
    # The warm-up runs after the first fork: the first request of an image does not wait for it.
    child = zygote.serve(LAUNCHER_FD, lambda: _warm_up(runner))
    if child is None:
        return 0  # the launcher hung up
    env, cpu_count = child
    _become_request_process(env, cpu_count, pools)
    return runner.main()

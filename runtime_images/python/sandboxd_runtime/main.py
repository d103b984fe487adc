"""One run, as runtime_images/RUNNER.md lays it out.

Phases, and the error code each one's failures carry:
    control document (fd 3)    BAD_REQUEST
    input table (fd 4) -> df    BAD_REQUEST
    the script                  SCRIPT_ERROR (exceptions, sys.exit, no DataFrame in `result`)
    result -> SBXT              SCHEMA_MISMATCH, or OUTPUT_LIMIT over max_result_bytes
    writing it (fd 5)           OUTPUT_LIMIT when the file cannot grow (EFBIG, ENOSPC, ...)
Whatever happens, the events pipe (fd 6) ends with exactly one `done` or `error` line, after the
buffered log records and the flushed stdout/stderr. Only a bug in the runner itself ends it
without one (its traceback goes to stderr): the daemon reports that as its own failure rather
than blaming the script.
"""

import builtins
import contextlib
import dataclasses
import errno
import importlib
import json
import linecache
import os
import resource
import stat
import sys
import traceback
import types

import numpy as np
import pandas as pd

from . import SCRIPT_FILENAME, events, frames, limits, sbxt, winpaths

CONTROL_FD, INPUT_FD, OUTPUT_FD, EVENTS_FD = 3, 4, 5, 6

BAD_REQUEST = "BAD_REQUEST"
SCRIPT_ERROR = "SCRIPT_ERROR"
SCHEMA_MISMATCH = "SCHEMA_MISMATCH"
OUTPUT_LIMIT = "OUTPUT_LIMIT"

DEFAULT_ARTIFACTS_DIR = "/sandbox/work/Temp"
DEFAULT_SITE_DIR = "/sandbox/site"

MAX_ERROR_MESSAGE_CHARS = 8 << 10
MAX_TRACEBACK_CHARS = 64 << 10


class RunFailed(Exception):
    """Ends the run with an `error` event."""

    def __init__(self, code, message, traceback_text=""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.traceback_text = traceback_text


# --- control document --------------------------------------------------------------------------

@dataclasses.dataclass
class Control:
    script: str
    kargs: dict
    output_columns: list          # [(name, canonical type name)] in schema order
    max_result_bytes: int
    max_log_records: int
    max_log_bytes: int
    artifacts_dir: str = DEFAULT_ARTIFACTS_DIR
    site_dir: str = DEFAULT_SITE_DIR


def _read_all(fd):
    # A memfd is read from offset 0 whatever its file position; a pipe is read to its end.
    chunks, offset = [], 0
    regular = stat.S_ISREG(os.fstat(fd).st_mode)
    while True:
        chunk = os.pread(fd, 1 << 20, offset) if regular else os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def _count(document, key, default=None):
    value = document.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RunFailed(BAD_REQUEST, f"control document: {key!r} must be a non-negative integer")
    return value


def _folder(document, key, default):
    value = document.get(key, default)
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        raise RunFailed(BAD_REQUEST, f"control document: {key!r} must be an absolute path")
    return value


def read_control(fd):
    try:
        document = json.loads(_read_all(fd))
    except (OSError, ValueError, RecursionError) as error:  # RecursionError: nested too deep
        raise RunFailed(BAD_REQUEST, f"control document: {_exception_message(error)}") from None
    if not isinstance(document, dict):
        raise RunFailed(BAD_REQUEST, "control document: not a JSON object")
    script = document.get("script")
    if not isinstance(script, str):
        raise RunFailed(BAD_REQUEST, "control document: 'script' must be a string")
    kargs = document.get("kargs")
    kargs = {} if kargs is None else kargs
    if not isinstance(kargs, dict):
        raise RunFailed(BAD_REQUEST, "control document: 'kargs' must be an object")
    columns = document.get("output_columns")
    if not isinstance(columns, list):
        raise RunFailed(BAD_REQUEST, "control document: 'output_columns' must be a list")
    output_columns, seen = [], set()
    for column in columns:
        name = column.get("name") if isinstance(column, dict) else None
        kind = column.get("type") if isinstance(column, dict) else None
        kind = sbxt.canonical_type_name(kind) if isinstance(kind, str) else None
        if not isinstance(name, str) or kind is None or name in seen or "\0" in name \
                or not 1 <= len(name.encode("utf-8", "surrogatepass")) <= sbxt.MAX_NAME_BYTES:
            raise RunFailed(BAD_REQUEST, f"control document: bad output column {column!r}")
        seen.add(name)
        output_columns.append((name, kind))
    return Control(
        script=script,
        kargs=kargs,
        output_columns=output_columns,
        max_result_bytes=_count(document, "max_result_bytes"),
        max_log_records=_count(document, "max_log_records", events.DEFAULT_MAX_LOG_RECORDS),
        max_log_bytes=_count(document, "max_log_bytes", events.DEFAULT_MAX_LOG_BYTES),
        artifacts_dir=_folder(document, "artifacts_dir", DEFAULT_ARTIFACTS_DIR),
        site_dir=_folder(document, "site_dir", DEFAULT_SITE_DIR),
    )


def prepare_artifacts(control):
    """Windows-style paths into ./Temp (winpaths.py) and Zipackage's folders."""
    artifacts_dir = control.artifacts_dir.rstrip("/") or "/"
    winpaths.install(os.path.dirname(artifacts_dir) or "/", artifacts_dir)
    from sandbox_utils import zipackage
    zipackage.Zipackage.site_dir = control.site_dir
    zipackage.Zipackage.artifacts_dir = artifacts_dir


# --- the script ----------------------------------------------------------------------------------

class _ScriptSource:
    """The script module's __loader__: linecache asks it for the source if its cache is cleared."""

    def __init__(self, source):
        self._source = source

    def get_source(self, _name):
        return self._source


def _exception_message(error):
    """The `ExcType: message` line a Python traceback ends with (without the module path)."""
    try:
        text = str(error)
    except Exception:
        text = "<the exception's str() failed>"
    name = type(error).__name__
    return events.clip(f"{name}: {text}" if text else name, MAX_ERROR_MESSAGE_CHARS)


def _clip_middle(text, limit):
    # The end of a traceback (the failing line, the exception) matters most; keep it whole.
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head
    return f"{text[:head]}\n... [{len(text) - limit} characters cut] ...\n{text[-tail:]}"


def _script_traceback(error):
    """The traceback from the script's first frame on, without the runner's frames above it."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != SCRIPT_FILENAME:
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(error), error, tb or error.__traceback__))
    return _clip_middle(text, MAX_TRACEBACK_CHARS)


def run_script(script, df, kargs):
    """Runs the script as the __main__ module with df, kargs, np and pd; returns `result`."""
    # Registered before compiling so tracebacks and inspect show the user's lines; mtime None
    # tells linecache.checkcache the entry has no file to go stale against.
    linecache.cache[SCRIPT_FILENAME] = (len(script), None, script.splitlines(True), SCRIPT_FILENAME)
    try:
        code = compile(script, SCRIPT_FILENAME, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as error:  # ValueError: NUL bytes in the source
        text = "".join(traceback.format_exception_only(type(error), error))
        raise RunFailed(SCRIPT_ERROR, _exception_message(error), text) from None

    # A real module as __main__, so pickle (multiprocessing, joblib) finds classes and functions
    # the script defines, as it would under `python script.py`.
    module = types.ModuleType("__main__")
    namespace = module.__dict__
    namespace.update(__builtins__=builtins, __loader__=_ScriptSource(script),
                     df=df, kargs=kargs, np=np, pd=pd)
    sys.modules["__main__"] = module
    sys.argv[:] = [SCRIPT_FILENAME]
    try:
        exec(code, namespace)
    except SystemExit as error:
        # Kusto takes `result` when the script ends; an exit, even sys.exit(0), skips that.
        raise RunFailed(SCRIPT_ERROR,
                        f"SystemExit: the script called sys.exit({error.code!r}); let it run to "
                        f"its end with its output in `result` instead",
                        _script_traceback(error)) from None
    except BaseException as error:
        raise RunFailed(SCRIPT_ERROR, _exception_message(error), _script_traceback(error)) from None

    if "result" not in namespace:
        raise RunFailed(SCRIPT_ERROR, "the script did not set `result`: assign the output table "
                                      "to it as a pandas DataFrame")
    result = namespace["result"]
    if not isinstance(result, pd.DataFrame):
        found = type(result)
        name = found.__qualname__
        if found.__module__ != "builtins":
            name = f"{found.__module__}.{name}"
        raise RunFailed(SCRIPT_ERROR, f"`result` must be a pandas DataFrame, found {name}")
    return result


# --- result ------------------------------------------------------------------------------------

_FULL_ERRNOS = {errno.EFBIG, errno.ENOSPC, errno.EDQUOT, errno.ENOMEM}


def write_result(result, control):
    """Converts `result` and writes it to fd 5; returns its size in bytes."""
    try:
        rows, columns = frames.encode_result(result, control.output_columns,
                                             control.max_result_bytes)
    except frames.SchemaMismatch as error:
        raise RunFailed(SCHEMA_MISMATCH, str(error)) from None
    except frames.OutputLimit as error:
        raise RunFailed(OUTPUT_LIMIT, str(error)) from None
    except MemoryError:
        raise RunFailed(OUTPUT_LIMIT, "the result table does not fit in the sandbox's memory") \
            from None
    except Exception as error:  # `result` itself misbehaves (a DataFrame subclass, say)
        raise RunFailed(SCHEMA_MISMATCH, f"cannot convert the result: "
                                         f"{_exception_message(error)}") from None
    try:
        return sbxt.write_table(OUTPUT_FD, rows, columns)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.ftruncate(OUTPUT_FD, 0)  # no half table for the daemon to look at
        code = OUTPUT_LIMIT if error.errno in _FULL_ERRNOS else BAD_REQUEST
        raise RunFailed(code, f"cannot write the result table: {error.strerror}") from None


# --- the run -------------------------------------------------------------------------------

def _flush_stdio():
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()


def _cpu_seconds():
    """(user, system) CPU seconds of this process and its waited-for children."""
    own, children = (resource.getrusage(who)
                     for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + children.ru_utime, own.ru_stime + children.ru_stime


def preload(argv):
    """Imports the image's `preload:` modules (`--preload=MODULE` flags) before the request.

    A warm sandbox then waits with them imported. One that fails is logged to stderr and skipped:
    the script may not need it, and if it does, its own import raises a SCRIPT_ERROR that says so.
    """
    for arg in argv:
        if not arg.startswith("--preload="):
            continue
        name = arg[len("--preload="):]
        try:
            importlib.import_module(name)
        except BaseException as error:  # noqa: B036 -- nothing may end the runner before its request
            print(f"sandboxd runner: preload of {name!r} failed: {_exception_message(error)}",
                  file=sys.stderr, flush=True)


def main():
    """Runs one request; returns the exit status (0 after `done`, 1 after `error`)."""
    preload(sys.argv[1:])
    channel = events.EventChannel(EVENTS_FD)
    handler = None
    arrived = None
    try:
        control = read_control(CONTROL_FD)
        arrived = _cpu_seconds()  # a ready sandbox's setup and warm-up are not the request's
        os.close(CONTROL_FD)
        limits.refresh_view()  # the request's memory limit is in force now: show it
        handler = events.install_log_handler(channel, control.max_log_records,
                                             control.max_log_bytes)
        try:
            df = frames.read_input(INPUT_FD)
            os.close(INPUT_FD)  # the mapping stays
        except frames.InputError as error:
            raise RunFailed(BAD_REQUEST, str(error)) from None
        except (OSError, ValueError, MemoryError) as error:
            raise RunFailed(BAD_REQUEST, f"input table: {_exception_message(error)}") from None
        prepare_artifacts(control)
        result = run_script(control.script, df, control.kargs)
        final = {"kind": "done", "result_bytes": write_result(result, control)}
    except RunFailed as failure:
        final = {"kind": "error", "code": failure.code,
                 "message": events.clip(failure.message, MAX_ERROR_MESSAGE_CHARS),
                 "traceback": failure.traceback_text}
    if handler is not None:
        handler.finish()
    _flush_stdio()
    if final["kind"] == "done" and arrived is not None:
        # The daemon answers at this event, before init reports the UDF's exit: the answer's CPU
        # figures are then the request's own, from its arrival to here.
        user, system = _cpu_seconds()
        final["cpu_user_seconds"] = max(0.0, user - arrived[0])
        final["cpu_system_seconds"] = max(0.0, system - arrived[1])
    channel.send(final)
    return 0 if final["kind"] == "done" else 1

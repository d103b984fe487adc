"""The debug mode's reproduction: one call of a script, outside any sandbox (RUNNER.md).

`sandboxctl run --debug DIR` (like Kusto's `set query_python_debug;`) runs nothing and writes a
folder that reproduces the call on a plain Python with numpy and pandas:

    input.sbxt          the input table, the very bytes the sandbox would map on fd 4
    input.csv           the same table as `name:type` CSV, to read (run.py does not use it)
    kargs.json          the script's parameters, as the daemon normalized them
    script.py           the script
    schema.json         the output schema, resolved against the input ({"output_columns": ...})
    run.py              `python3 run.py [--csv]`: builds df and kargs, runs script.py, prints result
    sandboxd_runtime/   copies of the runner's modules (this one included), sandbox_utils/ too

df is built by the runner's own decoder (frames.read_input) over input.sbxt, and the script runs
through the runner's own run_script (a __main__ module with df, kargs, np and pd bound; SystemExit
is an error), so dtypes, values, nulls and the 0..n-1 index are the sandbox's - as long as the
Python, numpy and pandas that run it are the image's (the image is Debian's python3-pandas).
The result is checked against the schema with the runner's encoder, so a SCHEMA_MISMATCH the
sandbox would report shows here too.

Log records (INFO and up, as in the sandbox) go to stderr. What is not reproduced: the sandbox's
limits and isolation, and external artifacts (they are not downloaded: put them into DIR/Temp,
where Kusto-style `.\\Temp\\name` paths lead, as in a sandbox; unpacked bundles for Zipackage
go into DIR/site).
"""

import argparse
import json
import logging
import os
import sys

import pandas as pd

from . import frames, main, sbxt

INPUT_FILE = "input.sbxt"
KARGS_FILE = "kargs.json"
SCRIPT_FILE = "script.py"
SCHEMA_FILE = "schema.json"

# Exit statuses, as sandboxctl's: 1 the call fails as it would in a sandbox, 2 the folder is bad.
EXIT_CALL_FAILED = 1
EXIT_BAD_FOLDER = 2


class BadFolder(Exception):
    """A file of the reproduction folder is missing or unreadable."""


def read_frame(path):
    """df of an SBXT file, exactly as the runner builds it from fd 4."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return frames.read_input(fd)  # the mapping outlives the descriptor
    finally:
        os.close(fd)


def parse_kargs(text):
    """kargs as the runner reads them from its control document: json.loads, an object."""
    kargs = json.loads(text)
    if not isinstance(kargs, dict):
        raise ValueError("kargs must be a JSON object")
    return kargs


def parse_columns(columns):
    """[(name, canonical type)] of schema.json's output_columns, as main.read_control checks."""
    out = []
    for column in columns:
        kind = sbxt.canonical_type_name(str(column.get("type", "")))
        if kind is None or not isinstance(column.get("name"), str):
            raise ValueError(f"bad output column {column!r}")
        out.append((column["name"], kind))
    return out


def _read_text(folder, name):
    try:
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as error:
        raise BadFolder(f"cannot read {name}: {error}") from None


def _prepare_artifacts(folder):
    # The folder stands for the sandbox's work folder (/sandbox/work, the script's working
    # directory there): Temp/ for artifacts, site/ for unpacked bundles.
    os.chdir(folder)
    main.prepare_artifacts(main.Control(
        script="", kargs={}, output_columns=[], max_result_bytes=0, max_log_records=0,
        max_log_bytes=0, artifacts_dir=os.path.join(folder, "Temp"),
        site_dir=os.path.join(folder, "site")))


def reproduce(folder, script, kargs_json, output_columns, argv=()):
    """Runs `script` over folder/input.sbxt with `kargs_json`; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="run.py", description="Reproduces a sandboxd call: df and kargs as the sandbox "
                                   "builds them, then the script, then `result`.")
    parser.add_argument("--csv", action="store_true",
                        help="print `result` as CSV (to_csv, no index) instead of its repr")
    options = parser.parse_args(list(argv))

    folder = os.path.abspath(folder)
    try:
        df = read_frame(os.path.join(folder, INPUT_FILE))
    except OSError as error:
        print(f"cannot read {INPUT_FILE}: {error.strerror}", file=sys.stderr)
        return EXIT_BAD_FOLDER
    except (frames.InputError, ValueError) as error:
        print(f"BAD_REQUEST: {error}", file=sys.stderr)
        return EXIT_BAD_FOLDER
    try:
        kargs = parse_kargs(kargs_json)
    except ValueError as error:
        print(f"BAD_REQUEST: kargs: {error}", file=sys.stderr)
        return EXIT_BAD_FOLDER
    _prepare_artifacts(folder)
    # The sandbox's root logger takes INFO and up (events.py) and sends the records back with the
    # result; here they go to stderr. A handler is installed either way, so a script's own
    # logging.basicConfig is a no-op in both.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="[log] %(levelname)s %(name)s %(filename)s:%(lineno)d: %(message)s")

    try:
        result = main.run_script(script, df, kargs)
        if output_columns is not None:
            # The runner's own conversion, for its verdict only; no size limit outside a sandbox.
            frames.encode_result(result, output_columns, max_bytes=1 << 62)
    except main.RunFailed as failure:
        if failure.traceback_text:
            sys.stderr.write(failure.traceback_text.rstrip("\n") + "\n")
        print(f"{failure.code}: {failure.message}", file=sys.stderr)
        return EXIT_CALL_FAILED
    except frames.SchemaMismatch as error:
        print(result, file=sys.stderr)
        print(f"SCHEMA_MISMATCH: {error}", file=sys.stderr)
        return EXIT_CALL_FAILED

    if options.csv:
        result.to_csv(sys.stdout, index=False)
    else:
        # Whole cells and every column: the reader is debugging them.
        with pd.option_context("display.max_rows", 200, "display.max_columns", None,
                               "display.width", None, "display.max_colwidth", None):
            print(result)
    sys.stdout.flush()
    return 0


def run_folder(folder, argv=()):
    """run.py's entry point: the call of folder's script.py, kargs.json and schema.json."""
    try:
        script = _read_text(folder, SCRIPT_FILE)
        kargs_json = _read_text(folder, KARGS_FILE)
        output_columns = None
        if os.path.exists(os.path.join(folder, SCHEMA_FILE)):
            schema = json.loads(_read_text(folder, SCHEMA_FILE))
            output_columns = parse_columns(schema["output_columns"])
    except (BadFolder, ValueError, KeyError, TypeError, AttributeError) as error:
        print(f"{os.path.abspath(folder)}: {error}", file=sys.stderr)
        return EXIT_BAD_FOLDER
    return reproduce(folder, script, kargs_json, output_columns, argv)

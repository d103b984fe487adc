"""The debug mode's reproduction (sandboxd_runtime/debug_repro.py, run.py) against the runner.

A describing script runs once in a real runner process (RUNNER.md's descriptors, runner_harness)
and once through a reproduction folder laid out as `sandboxctl run --debug DIR` lays it out; the
two descriptions of df and kargs must be equal. The end-to-end version, through a real daemon and
sandbox and sandboxctl, is tests/client_lib/sandboxctl_debug_test.cc.
"""

import csv
import io
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import unittest

import runner_harness
import sbxt_reference as ref
import test_frames

DESCRIBE = """\
import json

def cell(v):
    return [f"{type(v).__module__}.{type(v).__qualname__}", repr(v)]

rows = range(len(df))
info = {
    "index": [type(df.index).__name__, repr(df.index)],
    "dtypes": {c: str(t) for c, t in df.dtypes.items()},
    "blocks": len(df._mgr.blocks),
    "values": {c: [cell(df[c].iloc[i]) for i in rows] for c in df.columns},
    "isna": {c: df[c].isna().tolist() for c in df.columns},
    "kargs": repr(kargs),
    "kargs_types": [type(v).__name__ for v in kargs.values()],
}
result = pd.DataFrame({"describe": [json.dumps(info, sort_keys=True)]})
"""

KARGS = {"gain": 100, "ratio": 0.25, "name": "café", "flag": True, "none": None,
         "list": [1, "two", [3.5]], "nested": {"a": {"b": [None]}}}


def lay_out(folder, table, script, kargs, output_columns):
    """The folder sandboxctl writes (client_lib/sandboxctl/debug_dir.cc)."""
    folder = pathlib.Path(folder)
    (folder / "input.sbxt").write_bytes(table)
    (folder / "kargs.json").write_text(json.dumps(kargs), encoding="utf-8")
    (folder / "script.py").write_text(script, encoding="utf-8")
    (folder / "schema.json").write_text(json.dumps(
        {"output_columns": [{"name": n, "type": t} for n, t in output_columns]}))
    for package in ("sandboxd_runtime", "sandbox_utils"):
        shutil.copytree(runner_harness.RUNTIME_DIR / package, folder / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(runner_harness.RUNTIME_DIR / "sandboxd_runtime" / "debug_run.py",
                folder / "run.py")


def reproduce(folder, *args):
    return subprocess.run([runner_harness.PYTHON, str(pathlib.Path(folder) / "run.py"), *args],
                          capture_output=True, text=True, timeout=120, cwd="/")


class Reproduction(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="debug-repro-")
        self.addCleanup(shutil.rmtree, self.folder, True)

    def test_df_and_kargs_are_the_runners(self):
        columns = test_frames.RoundTrip.COLUMNS
        table = ref.encode(columns)
        schema = [("describe", "string")]
        in_runner = runner_harness.run(DESCRIBE, table, schema, kargs=KARGS)
        self.assertEqual(in_runner.returncode, 0, in_runner.describe())
        expected = in_runner.column("describe")[0]

        lay_out(self.folder, table, DESCRIBE, KARGS, schema)
        done = reproduce(self.folder, "--csv")
        self.assertEqual(done.returncode, 0, done.stderr)
        rows = list(csv.reader(io.StringIO(done.stdout)))
        self.assertEqual(rows[0], ["describe"])
        self.assertEqual(json.loads(rows[1][0]), json.loads(expected))
        self.assertEqual(rows[1][0], expected)
        # The folder is left as written (the sandbox runs with -B).
        self.assertFalse(any("__pycache__" in d for d, _, _ in os.walk(self.folder)))

    def test_errors_are_the_runners(self):
        table = ref.encode([("x", "long", [1, None])])
        lay_out(self.folder, table, "x = 1\nresult = df.rename(columns={'x': 'y'})\n", {},
                [("x", "long")])
        done = reproduce(self.folder)
        self.assertEqual(done.returncode, 1)
        self.assertIn("SCHEMA_MISMATCH: result does not match the output schema: missing column "
                      "'x' (long)", done.stderr)

        (pathlib.Path(self.folder) / "script.py").write_text("x = 1\n1 / 0\n")
        done = reproduce(self.folder)
        self.assertEqual(done.returncode, 1)
        self.assertIn('File "script.py", line 2', done.stderr)
        self.assertIn("SCRIPT_ERROR: ZeroDivisionError: division by zero", done.stderr)

        (pathlib.Path(self.folder) / "script.py").write_text("import sys\nsys.exit(0)\n")
        self.assertIn("SCRIPT_ERROR: SystemExit", reproduce(self.folder).stderr)

    def test_kusto_paths_reach_the_folders_temp(self):
        table = ref.encode([("x", "long", [1])])
        script = ("result = df\nresult['n'] = len(open('.\\\\Temp\\\\Data.TXT').read())\n")
        lay_out(self.folder, table, script, {}, [("x", "long"), ("n", "long")])
        (pathlib.Path(self.folder) / "Temp").mkdir()
        (pathlib.Path(self.folder) / "Temp" / "data.txt").write_text("four")
        done = reproduce(self.folder, "--csv")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout.splitlines(), ["x,n", "1,4"])

    def test_a_missing_file_is_named(self):
        lay_out(self.folder, ref.encode([("x", "long", [1])]), "result = df\n", {}, [("x", "long")])
        (pathlib.Path(self.folder) / "script.py").unlink()
        done = reproduce(self.folder)
        self.assertEqual(done.returncode, 2)
        self.assertIn("cannot read script.py", done.stderr)

if __name__ == "__main__":
    unittest.main()

"""runner.py end to end: a real runner process per case, with RUNNER.md's descriptors.

Run with the host's Debian Python (it has the image's numpy and pandas):

    /usr/bin/python3 -m unittest discover -s tests/runtime_images -v
"""

import datetime
import math
import time
import unittest

import runner_harness
import sbxt_reference as ref
import test_frames

run = runner_harness.run

SINE = """\
result = df
n = df.shape[0]
g = kargs["gain"]
f = kargs["cycles"]
result["fx"] = g * np.sin(df["x"]/n*2*np.pi*f)
"""

X2_X3 = """\
result = df
result["x2"] = df["x"] * 2
result["x3"] = df["x"] * 3
"""

# seeds/001's time-series example, as written there.
HOURLY = """\
import pandas as pd
import numpy as np

# Ensure timestamp is the index
df['Timestamp'] = pd.to_datetime(df['Timestamp'])
df = df.set_index('Timestamp')

# Resample to hourly buckets and calculate stats
hourly = df.resample('1H').agg({
    'Value': ['mean', 'min', 'max', 'count']
})

# Flatten the multi-level columns
hourly.columns = ['_'.join(col).strip() for col in hourly.columns.values]

# Reset index to get Timestamp as a column
result = hourly.reset_index()
"""

TICKS_PER_MINUTE = 600_000_000
TICKS_PER_HOUR = 60 * TICKS_PER_MINUTE
HOUR_2024 = 17042400000000000  # 2024-01-01T00:00:00Z in ticks


class Examples(unittest.TestCase):
    def test_sine(self):
        table = ref.encode([("x", "long", list(range(1, 361)))])
        outcome = run(SINE, table, [("x", "long"), ("fx", "real")],
                      kargs={"gain": 100, "cycles": 4})
        self.assertEqual(outcome.returncode, 0, outcome.describe())
        self.assertEqual(outcome.column("x"), list(range(1, 361)))
        expected = [100 * math.sin(x / 360 * 2 * math.pi * 4) for x in range(1, 361)]
        for got, want in zip(outcome.column("fx"), expected):
            self.assertAlmostEqual(got, want, places=9)

    def test_x2_x3(self):
        table = ref.encode([("x", "long", list(range(1, 101)))])
        outcome = run(X2_X3, table, [("x", "long"), ("x2", "long"), ("x3", "real")])
        self.assertEqual(outcome.column("x2"), [2 * x for x in range(1, 101)])
        self.assertEqual(outcome.column("x3"), [3.0 * x for x in range(1, 101)])

    def test_hourly_resample(self):
        # Every 20 minutes over 00:00-01:59 and 03:00-03:59: hour 02 is empty.
        minutes = [m for m in range(0, 240, 20) if not 120 <= m < 180]
        stamps = [HOUR_2024 + m * TICKS_PER_MINUTE for m in minutes]
        values = [float(m % 7) for m in minutes]
        table = ref.encode([("Timestamp", "datetime", stamps), ("Value", "real", values)])
        columns = [("Timestamp", "datetime"), ("Value_mean", "real"), ("Value_min", "real"),
                   ("Value_max", "real"), ("Value_count", "long")]
        outcome = run(HOURLY, table, columns)
        self.assertEqual(outcome.returncode, 0, outcome.describe())
        expected = []
        for hour in range(4):
            in_hour = [v for m, v in zip(minutes, values) if m // 60 == hour]
            expected.append((HOUR_2024 + hour * TICKS_PER_HOUR,
                             sum(in_hour) / len(in_hour) if in_hour else None,
                             min(in_hour, default=None), max(in_hour, default=None),
                             len(in_hour)))
        got = list(zip(*[outcome.column(name) for name, _ in columns]))
        self.assertEqual(got, expected)

    def test_empty_input(self):
        script = ("assert df.shape == (0, 0), df.shape\n"
                  "assert isinstance(df.index, pd.RangeIndex)\n"
                  "result = pd.DataFrame({'a': [1, 2]})\n")
        outcome = run(script, b"", [("a", "long")])
        self.assertEqual(outcome.column("a"), [1, 2], outcome.describe())
        outcome = run("result = df", b"", [])
        self.assertEqual(outcome.table(), [])
        self.assertEqual(ref.decode(outcome.output)[0], 0)


class RoundTrip(unittest.TestCase):
    DTYPES = {
        "b": "boolean", "i": "Int32", "l": "Int64", "l2": "int64", "r": "float64",
        "r2": "float64", "d": "object", "d2": "object", "s": "object", "t": "object",
        "t2": "datetime64[ns]", "ts": "object", "ts2": "timedelta64[ns]", "g": "object",
        "y": "object",
    }
    SCRIPT = """\
got = {c: str(df[c].dtype) for c in df.columns}
assert got == kargs["dtypes"], got
assert isinstance(df.index, pd.RangeIndex)
assert type(df["t"][1]).__name__ == "KustoDateTime" and df["t"][1].nanosecond == 900
assert df["l"][0] == 9223372036854775707 and df["l"][2] is pd.NA
assert type(df["y"][0]["k"]) is list and type(kargs["nested"]["a"]) is list
assert json.loads(json.dumps(df["y"][0])) == df["y"][0]
result = df
"""

    def test_every_type_with_extremes_and_nulls(self):
        columns = test_frames.RoundTrip.COLUMNS
        table = ref.encode(columns)
        outcome = run("import json\n" + self.SCRIPT, table,
                      [(name, kind) for name, kind, _ in columns],
                      kargs={"dtypes": self.DTYPES, "nested": {"a": [1, 2.5]}})
        self.assertEqual(outcome.returncode, 0, outcome.describe())
        cells = {name: values for name, _, values in outcome.table()}
        for name, kind, values in columns:
            if kind in ("real", "decimal", "dynamic", "string"):
                continue  # compared value by value in test_frames; spot checks here
            self.assertEqual(cells[name], values, name)
        self.assertEqual(cells["s"], ["", "naïve ☃ 𝄞", "x" * 1000])
        self.assertEqual(cells["d"], ["79228162514264337593543950335", "-0.0000001", None])
        self.assertEqual(cells["r"][2], None)

    def test_without_nulls(self):
        columns = [(name, kind, [v for v in values if v is not None][-1:])
                   for name, kind, values in test_frames.RoundTrip.COLUMNS]
        table = ref.encode(columns)
        script = "assert not df.isna().any().any(), df.dtypes\nresult = df\n"
        outcome = run(script, table, [(name, kind) for name, kind, _ in columns])
        self.assertEqual(outcome.returncode, 0, outcome.describe())
        for (name, kind, values), (_, _, got) in zip(columns, outcome.table()):
            if kind not in ("decimal", "dynamic"):
                self.assertEqual(got, values, name)


class Mismatches(unittest.TestCase):
    def run_mismatch(self, script, columns, table=b""):
        outcome = run(script, table, columns)
        self.assertEqual(outcome.returncode, 1)
        self.assertEqual(outcome.final["code"], "SCHEMA_MISMATCH", outcome.describe())
        self.assertEqual(outcome.output, b"")
        return outcome.final["message"]

    def test_wrong_type_names_column_expected_and_found(self):
        message = self.run_mismatch("result = pd.DataFrame({'fx': ['a', 'b']})", [("fx", "real")])
        self.assertTrue(message.startswith("column 'fx': expected real, found object (str)"),
                        message)

    def test_lossy_conversions_are_refused(self):
        message = self.run_mismatch("result = pd.DataFrame({'x': [1.5]})", [("x", "long")])
        self.assertIn("column 'x': expected long, found float64", message)
        message = self.run_mismatch("result = pd.DataFrame({'x': [2**53 + 1]})", [("x", "real")])
        self.assertIn("expected real, found int64", message)

    def test_missing_and_extra_columns(self):
        message = self.run_mismatch("result = pd.DataFrame({'a': [1], 'b': [2]})",
                                    [("a", "long"), ("fx", "real")])
        self.assertIn("missing column 'fx' (real)", message)
        self.assertIn("not in the output schema 'b'", message)


class ScriptErrors(unittest.TestCase):
    def assertScriptError(self, outcome, message_start):
        self.assertEqual(outcome.returncode, 1)
        self.assertEqual(outcome.final["kind"], "error", outcome.describe())
        self.assertEqual(outcome.final["code"], "SCRIPT_ERROR")
        self.assertTrue(outcome.final["message"].startswith(message_start),
                        outcome.final["message"])
        self.assertNotIn("sandboxd_runtime", outcome.final["traceback"])
        self.assertNotIn("runner.py", outcome.final["traceback"])
        return outcome.final["traceback"]

    def test_traceback_points_into_the_script(self):
        script = "x = 1\n\ndef f(frame):\n    return frame['nope']\n\nresult = f(df)\n"
        table = ref.encode([("a", "long", [1])])
        traceback = self.assertScriptError(run(script, table, [("a", "long")]),
                                           "KeyError: 'nope'")
        self.assertIn('File "script.py", line 6, in <module>\n    result = f(df)', traceback)
        self.assertIn('File "script.py", line 4, in f\n    return frame[\'nope\']', traceback)
        self.assertIn("pandas", traceback)  # the library frames the script called stay
        self.assertLess(traceback.index('line 6'), traceback.index('line 4'))

    def test_syntax_error(self):
        traceback = self.assertScriptError(run("a = 1\nb = (\n", b"", []), "SyntaxError: ")
        self.assertIn('File "script.py", line 2', traceback)
        self.assertIn("(script.py, line 2)", run("a = 1\nb = (\n", b"", []).final["message"])

    def test_sys_exit_is_an_error(self):
        traceback = self.assertScriptError(run("import sys\nresult = df\nsys.exit(0)\n", b"", []),
                                           "SystemExit: the script called sys.exit(0)")
        self.assertIn('line 3', traceback)

    def test_chained_exceptions_and_a_cleared_line_cache(self):
        script = ("import linecache\n"
                  "try:\n"
                  "    1 / 0\n"
                  "except ZeroDivisionError as error:\n"
                  "    linecache.clearcache()\n"
                  "    raise ValueError('bad input') from error\n")
        traceback = self.assertScriptError(run(script, b"", []), "ValueError: bad input")
        self.assertIn("ZeroDivisionError: division by zero", traceback)
        self.assertIn("direct cause", traceback)
        self.assertIn("    raise ValueError('bad input') from error", traceback)

    def test_result_missing_or_not_a_dataframe(self):
        self.assertScriptError(run("x = 1", b"", []), "the script did not set `result`")
        self.assertScriptError(run("result = pd.Series([1])", b"", []),
                               "`result` must be a pandas DataFrame, found "
                               "pandas.core.series.Series")
        self.assertScriptError(run("result = None", b"", []),
                               "`result` must be a pandas DataFrame, found NoneType")


class Logging(unittest.TestCase):
    SCRIPT = """\
import logging
logging.info("rows=%d", len(df))
logging.getLogger("my.lib").warning("careful")
logging.debug("not shown: the root level is INFO")
try:
    1 / 0
except ZeroDivisionError:
    logging.exception("it failed")
print("printed")
result = df
"""

    def test_records_come_back_as_events(self):
        outcome = run(self.SCRIPT, ref.encode([("a", "long", [1, 2])]), [("a", "long")])
        self.assertEqual(outcome.returncode, 0, outcome.describe())
        self.assertEqual(outcome.stdout, "printed\n")
        logs = outcome.logs
        self.assertEqual([(e["level"], e["logger"], e["file"], e["line"]) for e in logs], [
            ("INFO", "root", "script.py", 2), ("WARNING", "my.lib", "script.py", 3),
            ("ERROR", "root", "script.py", 8)])
        self.assertEqual(logs[0]["message"], "rows=2")
        self.assertIn("it failed\nTraceback (most recent call last):", logs[2]["message"])
        self.assertIn('File "script.py", line 6', logs[2]["message"])
        self.assertLess(abs(logs[0]["time"] - time.time()), 300)
        self.assertEqual([e["kind"] for e in outcome.events], ["log"] * 3 + ["done"])

    def test_records_are_capped(self):
        script = "import logging\nfor i in range(20):\n    logging.warning('n%d', i)\nresult = df"
        outcome = run(script, b"", [], control_extra={"max_log_records": 5})
        self.assertEqual([e["message"] for e in outcome.logs[:5]], [f"n{i}" for i in range(5)])
        self.assertEqual(len(outcome.logs), 6)
        self.assertIn("15 more log records were dropped", outcome.logs[5]["message"])
        self.assertEqual(outcome.final["kind"], "done")

    def test_long_messages_are_cut(self):
        outcome = run("import logging\nlogging.warning('x' * 100000)\nresult = df", b"", [])
        message = outcome.logs[0]["message"]
        self.assertLessEqual(len(message), 16 << 10)
        kept = (16 << 10) - 40
        self.assertTrue(message.endswith(f"[{100000 - kept} characters cut]"), message[-60:])

    def test_logs_before_an_error_are_flushed(self):
        outcome = run("import logging\nlogging.info('before')\nraise RuntimeError('x')", b"", [])
        self.assertEqual([e["kind"] for e in outcome.events], ["log", "error"])


class Limits(unittest.TestCase):
    def test_output_limit(self):
        table = ref.encode([("x", "long", list(range(1000)))])
        outcome = run("result = df", table, [("x", "long")], max_result_bytes=1000)
        self.assertEqual(outcome.returncode, 1)
        self.assertEqual(outcome.final["code"], "OUTPUT_LIMIT", outcome.describe())
        self.assertIn("more than the limit of 1000 bytes", outcome.final["message"])
        self.assertEqual(outcome.output, b"")
        size = run("result = df", table, [("x", "long")]).final["result_bytes"]
        self.assertEqual(run("result = df", table, [("x", "long")],
                             max_result_bytes=size).final["kind"], "done")
        self.assertEqual(run("result = df", table, [("x", "long")],
                             max_result_bytes=size - 1).final["code"], "OUTPUT_LIMIT")


    def test_a_file_size_limit_is_an_output_limit(self):
        table = ref.encode([("x", "long", list(range(1000)))])
        outcome = run("result = df", table, [("x", "long")], file_size_limit=4096)
        self.assertEqual((outcome.returncode, outcome.final["code"]), (1, "OUTPUT_LIMIT"),
                         outcome.describe())
        self.assertIn("File too large", outcome.final["message"])
        self.assertEqual(outcome.output, b"")


class Process(unittest.TestCase):
    def test_bad_control_document(self):
        outcome = run("result = df", b"", [("a", "nonsense")])
        self.assertEqual((outcome.returncode, outcome.final["code"]), (1, "BAD_REQUEST"))

    def test_bad_input_table(self):
        table = bytearray(ref.encode([("a", "long", [1])]))
        table[0:8] = b"NOTATBL!"
        outcome = run("result = df", bytes(table), [("a", "long")])
        self.assertEqual(outcome.final["code"], "BAD_REQUEST", outcome.describe())
        self.assertIn("input table", outcome.final["message"])

    def test_script_objects_pickle_as_main(self):
        script = ("import pickle\n"
                  "class Point:\n"
                  "    def __init__(self):\n"
                  "        self.v = 3\n"
                  "def four():\n"
                  "    return 4\n"
                  "assert __name__ == '__main__'\n"
                  "p = pickle.loads(pickle.dumps(Point()))\n"
                  "g = pickle.loads(pickle.dumps(four))\n"
                  "result = pd.DataFrame({'v': [p.v, g()]})\n")
        self.assertEqual(run(script, b"", [("v", "long")]).column("v"), [3, 4])

    def test_threads_left_running_do_not_hold_the_exit(self):
        script = ("import threading, time\n"
                  "threading.Thread(target=time.sleep, args=(60,)).start()\n"
                  "result = df\n")
        started = time.monotonic()
        outcome = run(script, b"", [], timeout=50)
        self.assertEqual(outcome.final["kind"], "done")
        self.assertLess(time.monotonic() - started, 30)

    def test_out_of_range_datetime_survives_script_arithmetic_as_datetime(self):
        script = ("import datetime\n"
                  "result = df\n"
                  "result['u'] = df['t'].apply(lambda v: v + datetime.timedelta(days=1))\n")
        table = ref.encode([("t", "datetime", [test_frames.MIN_DT])])
        outcome = run(script, table, [("t", "datetime"), ("u", "datetime")])
        self.assertEqual(outcome.column("u"),
                         [test_frames.MIN_DT + 864_000_000_000], outcome.describe())
        self.assertEqual(datetime.datetime(1, 1, 2) - datetime.datetime(1, 1, 1),
                         datetime.timedelta(days=1))


if __name__ == "__main__":
    unittest.main()

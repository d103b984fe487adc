"""The runner's type mapping, in-process: SBXT -> df and result -> SBXT, rule by rule.

The end-to-end runs (a real runner process per case) are in test_runner.py; this file covers
the many conversion rules without paying for a process each.
"""

import datetime
import decimal
import json
import mmap
import os
import pickle
import sys
import unittest
import uuid

import numpy as np
import pandas as pd

import runner_harness
import sbxt_reference as ref

sys.path.insert(0, str(runner_harness.RUNTIME_DIR))
from sandboxd_runtime import frames, kusto_values as kv, sbxt  # noqa: E402

MIN_DT, MAX_DT = kv.MIN_DATETIME_TICKS, kv.MAX_DATETIME_TICKS
ONE_HOUR = datetime.timedelta(hours=1)


def read(table_bytes):
    """df of an SBXT buffer, through a sealed memfd as in the sandbox."""
    fd = runner_harness._memfd("input", table_bytes, seal=True)
    try:
        return frames.read_input(fd)
    finally:
        os.close(fd)


def write(result, columns, max_bytes=1 << 30):
    """{name: values} of `result` encoded for `columns`, checked by the reference decoder."""
    rows, encoded = frames.encode_result(result, list(columns), max_bytes)
    fd = os.memfd_create("output")
    try:
        size = sbxt.write_table(fd, rows, encoded)
        buffer = os.pread(fd, size, 0)
    finally:
        os.close(fd)
    decoded_rows, decoded = ref.decode(buffer)
    assert decoded_rows == rows
    assert [(n, t) for n, t, _ in decoded] == list(columns)
    return {name: values for name, _, values in decoded}


def write_one(values, kind, dtype=None):
    """The cells of a one-column result holding `values` (a list or Series) as `kind`."""
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=dtype)
    return write(pd.DataFrame({"c": series}), [("c", kind)])["c"]


class InputTypes(unittest.TestCase):
    def test_dtypes_without_nulls(self):
        df = read(ref.encode([
            ("b", "bool", [True, False]), ("i", "int", [1, -2]), ("l", "long", [3, 2**62]),
            ("r", "real", [0.5, float("inf")]), ("d", "decimal", ["1.50", "-2E+3"]),
            ("s", "string", ["", "é"]), ("t", "datetime", [0, 10]),
            ("ts", "timespan", [-5, 5]), ("g", "guid", [str(uuid.UUID(int=1))] * 2),
            ("y", "dynamic", ['{"a":[1,2.5,null]}', '"x"']),
        ]))
        self.assertEqual([str(t) for t in df.dtypes], [
            "bool", "int32", "int64", "float64", "object", "object", "datetime64[ns]",
            "timedelta64[ns]", "object", "object"])
        self.assertIsInstance(df.index, pd.RangeIndex)
        self.assertEqual(df["d"].tolist(), [decimal.Decimal("1.50"), decimal.Decimal("-2E+3")])
        self.assertEqual(df["t"][1], pd.Timestamp(1000, unit="ns"))
        self.assertEqual(df["ts"][0], pd.Timedelta(-500, unit="ns"))
        self.assertEqual(df["g"][0], "00000000-0000-0000-0000-000000000001")
        self.assertEqual(df["y"][0], {"a": [1, 2.5, None]})
        self.assertIs(type(df["y"][0]["a"][0]), int)

    def test_dtypes_with_nulls(self):
        df = read(ref.encode([
            ("b", "bool", [True, None]), ("i", "int", [None, 7]), ("l", "long", [None, 5]),
            ("r", "real", [None, 1.0]), ("d", "decimal", [None, "1"]),
            ("s", "string", [None, "x"]), ("t", "datetime", [None, 0]),
            ("ts", "timespan", [1, None]), ("g", "guid", [None, str(uuid.UUID(int=2))]),
            ("y", "dynamic", [None, "null"]),
        ]))
        self.assertEqual([str(t) for t in df.dtypes], [
            "boolean", "Int32", "Int64", "float64", "object", "object", "datetime64[ns]",
            "timedelta64[ns]", "object", "object"])
        self.assertIs(df["b"][1], pd.NA)
        self.assertIs(df["i"][0], pd.NA)
        self.assertTrue(np.isnan(df["r"][0]))
        self.assertIsNone(df["d"][0])
        self.assertEqual(df["s"][0], "")
        self.assertIs(df["t"][0], pd.NaT)
        self.assertIs(df["ts"][1], pd.NaT)
        self.assertIsNone(df["g"][0])
        self.assertIsNone(df["y"][0])
        self.assertIsNone(df["y"][1])  # JSON null and a null cell both read as None

    def test_a_bitmap_without_nulls_keeps_plain_dtypes(self):
        df = read(ref.encode([("l", "long", [1, 2]), ("b", "bool", [True, False])],
                             bitmap_always=True))
        self.assertEqual([str(t) for t in df.dtypes], ["int64", "bool"])

    def test_fixed_columns_are_views_of_the_mapping_and_writable(self):
        df = read(ref.encode([("l", "long", [1, 2, 3]), ("r", "real", [1.0, 2.0, 3.0]),
                              ("m", "long", [4, 5, 6])]))
        for name in ("l", "r", "m"):
            owner = df[name].to_numpy()
            while isinstance(owner, np.ndarray):
                owner = owner.base
            owner = owner.obj if isinstance(owner, memoryview) else owner
            self.assertIsInstance(owner, mmap.mmap, name)
        df.loc[0, "l"] = 10
        df["r"] *= 2
        self.assertEqual(df["l"].tolist(), [10, 2, 3])
        self.assertEqual(df["r"].tolist(), [2.0, 4.0, 6.0])

    def test_object_only_frames_take_lists_through_loc(self):
        df = read(ref.encode([("s", "string", ["a", "b"]), ("y", "dynamic", ["[]", "{}"])]))
        df.loc[0, "y"] = [1, 2]
        self.assertEqual(df["y"][0], [1, 2])

    def test_datetimes_beyond_the_nanosecond_range_become_exact_objects(self):
        df = read(ref.encode([("t", "datetime", [MIN_DT, MAX_DT, None, 0])]))
        self.assertEqual(df["t"].dtype, object)
        low, high, null, epoch = df["t"]
        self.assertIsInstance(low, datetime.datetime)
        self.assertEqual(low, datetime.datetime(1, 1, 1))
        self.assertEqual(high, datetime.datetime(9999, 12, 31, 23, 59, 59, 999999))
        self.assertEqual(high.nanosecond, 900)
        self.assertEqual(high.ticks, MAX_DT)
        self.assertIs(null, pd.NaT)
        self.assertEqual(epoch, datetime.datetime(1970, 1, 1))
        copied = pickle.loads(pickle.dumps(high))
        self.assertEqual((type(copied), copied.ticks), (type(high), MAX_DT))

    def test_the_nanosecond_range_edges_stay_datetime64(self):
        edge = kv.NS_SAFE_TICKS
        df = read(ref.encode([("t", "datetime", [-edge, edge]), ("ts", "timespan", [-edge, edge])]))
        self.assertEqual(str(df["t"].dtype), "datetime64[ns]")
        self.assertEqual(str(df["ts"].dtype), "timedelta64[ns]")
        df = read(ref.encode([("t", "datetime", [edge + 1]), ("ts", "timespan", [-edge - 1])]))
        self.assertEqual((df["t"].dtype, df["ts"].dtype), (object, object))
        self.assertEqual(df["ts"][0].ticks, -edge - 1)

    def test_empty_file_is_an_empty_table(self):
        df = read(b"")
        self.assertEqual(df.shape, (0, 0))
        self.assertIsInstance(df.index, pd.RangeIndex)

    def test_zero_rows(self):
        df = read(ref.encode([("l", "long", []), ("s", "string", [])], rows=0))
        self.assertEqual(df.shape, (0, 2))
        self.assertEqual(list(df.dtypes.astype(str)), ["int64", "object"])

    def test_broken_input_is_an_input_error(self):
        good = ref.encode([("l", "long", [1])])
        for broken in (b"SBXTBL02" + good[8:], good[:-1], good[:40]):
            with self.assertRaises(frames.InputError):
                read(broken)


class RoundTrip(unittest.TestCase):
    """`result = df` gives back every value exactly."""

    COLUMNS = [
        ("b", "bool", [True, False, None]),
        ("i", "int", [-2**31, 2**31 - 1, None]),
        ("l", "long", [9223372036854775707, -2**63, None]),
        ("l2", "long", [9223372036854775807, -9223372036854775807, 0]),
        ("r", "real", [float("inf"), -0.0, None]),
        ("r2", "real", [5e-324, 1.7976931348623157e308, -1.5]),
        ("d", "decimal", ["79228162514264337593543950335", "-0.0000001", None]),
        ("d2", "decimal", ["NaN", "-Infinity", "1E+30"]),
        ("s", "string", ["", "naïve ☃ 𝄞", "x" * 1000]),
        ("t", "datetime", [MIN_DT, MAX_DT, None]),
        ("t2", "datetime", [1, -1, 16409952000000001]),
        ("ts", "timespan", [-2**63, 2**63 - 1, None]),
        ("ts2", "timespan", [-1, 9, 864000000000]),
        ("g", "guid", ["0123abcd-0000-4000-8000-00000000ffff", None, str(uuid.UUID(int=0))]),
        ("y", "dynamic", ['{"k":[1,-2.5,"é",null,true,{}]}', "123456789012345678901234567890",
                          None]),
    ]

    def test_result_is_df(self):
        df = read(ref.encode(self.COLUMNS))
        cells = write(df, [(name, kind) for name, kind, _ in self.COLUMNS])
        for name, kind, values in self.COLUMNS:
            got = cells[name]
            if kind == "decimal":
                expected = [None if v is None else decimal.Decimal(v) for v in values]
                got = [None if v is None else decimal.Decimal(v) for v in got]
                for a, b in zip(got, expected):
                    self.assertTrue(a is b is None or a.compare_total(b) == 0 or
                                    (a.is_nan() and b.is_nan()), (name, got, expected))
                continue
            if kind == "dynamic":
                got = [None if v is None else json.loads(v) for v in got]
                expected = [None if v is None else json.loads(v) for v in values]
            else:
                expected = values
            if kind == "string":
                expected = ["" if v is None else v for v in values]
            if kind == "real":
                self.assertTrue(all(map(ref.same_real, got, expected)), (name, got))
                self.assertEqual([str(v) for v in got], [str(v) for v in expected])  # -0.0
                continue
            self.assertEqual(got, expected, name)

    def test_a_null_string_comes_back_as_empty(self):
        self.assertEqual(write(read(ref.encode([("s", "string", [None])])), [("s", "string")])["s"],
                         [""])


class OutputConversions(unittest.TestCase):
    def assertRefused(self, values, kind, *fragments, dtype=None):
        with self.assertRaises(frames.SchemaMismatch) as caught:
            write_one(values, kind, dtype)
        message = str(caught.exception)
        for fragment in fragments:
            self.assertIn(fragment, message)
        return message

    def test_message_names_column_expected_and_found(self):
        message = self.assertRefused(["a", "b"], "real")
        self.assertTrue(message.startswith("column 'c': expected real, found object (str)"),
                        message)

    def test_integers(self):
        self.assertEqual(write_one([1, 2**31 - 1], "int"), [1, 2**31 - 1])
        self.assertEqual(write_one([1.0, None, -3.0], "long"), [1, None, -3])
        self.assertEqual(write_one(pd.array([1, None], dtype="Int64"), "int"), [1, None])
        self.assertEqual(write_one(np.array([2**64 - 1], dtype=np.uint64)[:0], "long"), [])
        self.assertEqual(write_one([np.int64(5), 7.0, None, decimal.Decimal(2)], "long", object),
                         [5, 7, None, 2])
        self.assertRefused([2**31], "int", "expected int, found int64", "row 0 holds 2147483648")
        self.assertRefused(np.array([2**63], dtype=np.uint64), "long", "found uint64")
        self.assertRefused([1.5], "long", "row 0 holds 1.5", "not a whole number")
        self.assertRefused([2.0**63], "long", "found float64")
        self.assertRefused([float("inf")], "long")
        self.assertRefused([True, False], "long", "found bool")
        self.assertRefused([True], "int", "found object (bool)", dtype=object)
        self.assertRefused(["1"], "long", "found object (str)")
        self.assertRefused([2**70], "long", "outside the long range", dtype=object)

    def test_reals(self):
        self.assertEqual(write_one([2**53, -2**53], "real"), [2.0**53, -2.0**53])
        self.assertEqual(write_one(np.array([2**60], dtype=np.int64), "real"), [2.0**60])
        self.assertEqual(write_one(np.array([1, 2], dtype=np.float32), "real"), [1.0, 2.0])
        self.assertEqual(write_one(pd.array([None, 3], dtype="Int64"), "real"), [None, 3.0])
        self.assertEqual(write_one([float("nan"), float("-inf")], "real"), [None, float("-inf")])
        self.assertEqual(write_one([1, 0.5, None, decimal.Decimal("0.25")], "real", object),
                         [1.0, 0.5, None, 0.25])
        self.assertRefused([2**53 + 1], "real", "found int64", "row 0 holds 9007199254740993",
                           "cannot hold exactly")
        self.assertRefused(np.array([2**64 - 1], dtype=np.uint64), "real", "found uint64")
        self.assertRefused([decimal.Decimal("0.1")], "real", "object (Decimal)")
        self.assertRefused([np.int64(2**53 + 1)], "real", "object (int64)", dtype=object)
        self.assertRefused([True], "real", "found bool")

    def test_bools(self):
        self.assertEqual(write_one([True, False], "bool"), [True, False])
        self.assertEqual(write_one(pd.array([True, None], dtype="boolean"), "bool"), [True, None])
        self.assertEqual(write_one([np.True_, None, False], "bool", object), [True, None, False])
        self.assertRefused([1, 0], "bool", "found int64")

    def test_strings(self):
        self.assertEqual(write_one(["a", None, float("nan"), "é"], "string"), ["a", "", "", "é"])
        # Kusto turns os.path.getsize()'s ints into a string column (seeds/000).
        self.assertEqual(write_one([120, 105], "string"), ["120", "105"])
        self.assertEqual(write_one([0.1, None], "string"), ["0.1", ""])
        self.assertEqual(write_one([True, 1, decimal.Decimal("1.0")], "string", object),
                         ["True", "1", "1.0"])
        self.assertEqual(write_one(pd.array(["x", None], dtype="string"), "string"), ["x", ""])
        self.assertRefused([[1]], "string", "found object (list)", dtype=object)
        self.assertRefused(pd.to_datetime(["2020-01-01"]), "string", "found datetime64[ns]")
        self.assertRefused(["\udcff"], "string", "not valid Unicode")

    def test_decimals(self):
        self.assertEqual(write_one([decimal.Decimal("1.50"), None, decimal.Decimal("-1E-7"),
                                    decimal.Decimal("sNaN"), decimal.Decimal("-Infinity")],
                                   "decimal"),
                         ["1.50", None, "-0.0000001", "NaN", "-Infinity"])
        self.assertEqual(write_one([0.1, float("nan")], "decimal"), ["0.1", None])
        self.assertEqual(write_one([2**62], "decimal"), [str(2**62)])
        self.assertEqual(write_one([decimal.Decimal("1E+100")], "decimal"), ["1E+100"])
        self.assertRefused([decimal.Decimal("1." + "1" * 70)], "decimal", "64 characters")
        self.assertRefused(["1.5"], "decimal", "found object (str)")

    def test_datetimes(self):
        self.assertEqual(write_one(pd.to_datetime(["1970-01-01T00:00:00.0000001", None]),
                                   "datetime"), [1, None])
        # Below the tick: truncated toward negative infinity.
        ns = pd.Series(np.array([150, -150, -100], dtype="M8[ns]"))
        self.assertEqual(write_one(ns, "datetime"), [1, -2, -1])
        aware = pd.Series(pd.to_datetime(["2024-01-01T02:00:00+02:00"])).dt.tz_convert("Asia/Tokyo")
        self.assertEqual(write_one(aware, "datetime"),
                         [write_one(pd.to_datetime(["2024-01-01T00:00:00"]), "datetime")[0]])
        values = [datetime.datetime(1, 1, 1), datetime.date(1970, 1, 2),
                  datetime.datetime(1970, 1, 1, 1, tzinfo=datetime.timezone(ONE_HOUR)),
                  "2024-02-29T12:00:00.1234567Z", "", None, pd.Timestamp(5, unit="ns"),
                  kv.KustoDateTime.from_ticks(MAX_DT), np.datetime64(1, "us")]
        self.assertEqual(write_one(values, "datetime", object), [
            MIN_DT, 864000000000, 0, kv.parse_datetime("2024-02-29T12:00:00.1234567"), None,
            None, 0, MAX_DT, 10])
        self.assertRefused(["yesterday"], "datetime", "row 0 holds 'yesterday'")
        self.assertRefused(["01/02/2024"], "datetime")
        self.assertRefused([1700000000], "datetime", "found int64")

    def test_timespans(self):
        self.assertEqual(write_one(pd.to_timedelta(["1s", None, "-1ns"]), "timespan"),
                         [10_000_000, None, -1])
        self.assertEqual(write_one([datetime.timedelta(days=-1, microseconds=3), "1.02:03:04.5",
                                    "-00:00:01", pd.Timedelta(250, unit="ns"),
                                    kv.KustoTimeDelta.from_ticks(-(2**63))], "timespan", object),
                         [-864000000000 + 30, 937845000000, -10_000_000, 2, -(2**63)])
        self.assertRefused(["25:00:00"], "timespan", "out of range")
        self.assertRefused([1.5], "timespan", "found float64")

    def test_guids(self):
        text = "0123ABCD-0000-4000-8000-00000000FFFF"
        self.assertEqual(write_one([text, None, uuid.UUID(int=3), "{" + text + "}"], "guid"), [
            text.lower(), None, str(uuid.UUID(int=3)), text.lower()])
        self.assertRefused(["not-a-guid"], "guid", "not a guid")
        self.assertRefused([5], "guid", "found int64")

    def test_dynamic(self):
        cells = write_one([{"a": np.int64(1), "b": np.array([1.5, np.nan])}, [1, (2, 3)], "s",
                           None, float("nan"), np.float32(0.5), pd.Timestamp("2024-01-01"),
                           {1: decimal.Decimal("1.10"), "u": uuid.UUID(int=1)},
                           datetime.timedelta(seconds=1), [pd.NaT, pd.NA, float("inf")]],
                          "dynamic", object)
        self.assertEqual([None if c is None else json.loads(c) for c in cells], [
            {"a": 1, "b": [1.5, None]}, [1, [2, 3]], "s", None, None, 0.5,
            "2024-01-01T00:00:00Z", {"1": "1.10", "u": str(uuid.UUID(int=1))}, "00:00:01",
            [None, None, None]])
        self.assertEqual(write_one([1, 2], "dynamic"), ["1", "2"])
        self.assertEqual(write_one(pd.array([1, None], dtype="Int64"), "dynamic"), ["1", None])
        self.assertRefused([{1, 2}], "dynamic", "set", dtype=object)
        self.assertRefused([{(1, 2): 3}], "dynamic", "tuple key", dtype=object)
        loop = []
        loop.append(loop)
        self.assertRefused([loop], "dynamic", "nested deeper", dtype=object)

    def test_missing_and_empty_columns_fit_any_type(self):
        for kind in ref.TYPES:
            expected = [""] * 2 if kind == "string" else [None] * 2
            self.assertEqual(write_one([None, None], kind, object), expected, kind)
            self.assertEqual(write_one([np.nan, np.nan], kind), expected, kind)
            self.assertEqual(write_one(pd.Series([], dtype="float64"), kind), [], kind)

    def test_categorical(self):
        self.assertEqual(write_one(pd.Categorical(["a", None, "a"]), "string"), ["a", "", "a"])
        self.assertEqual(write_one(pd.Series(pd.Categorical([1, 2])), "long"), [1, 2])


class Columns(unittest.TestCase):
    def assertMismatch(self, result, columns, *fragments):
        with self.assertRaises(frames.SchemaMismatch) as caught:
            write(result, columns)
        for fragment in fragments:
            self.assertIn(fragment, str(caught.exception))

    def test_matched_by_name_written_in_schema_order(self):
        cells = write(pd.DataFrame({"b": [1], "a": ["x"]}, index=[7]),
                      [("a", "string"), ("b", "long")])
        self.assertEqual(cells, {"a": ["x"], "b": [1]})

    def test_missing_extra_repeated_and_odd_labels(self):
        self.assertMismatch(pd.DataFrame({"a": [1]}), [("a", "long"), ("fx", "real")],
                            "missing column 'fx' (real)")
        self.assertMismatch(pd.DataFrame({"a": [1], "zz": [2]}), [("a", "long")],
                            "not in the output schema 'zz'")
        self.assertMismatch(pd.DataFrame([[1, 2]], columns=["a", "a"]), [("a", "long")],
                            "repeated column 'a'")
        self.assertMismatch(pd.DataFrame(np.zeros((1, 1))), [("0", "real")],
                            "0 (a int label)", "missing column '0'")

    def test_output_limit(self):
        frame = pd.DataFrame({"l": np.arange(1000)})
        rows, encoded = frames.encode_result(frame, [("l", "long")], 10 ** 9)
        fd = os.memfd_create("output")
        exact = sbxt.write_table(fd, rows, encoded)
        os.close(fd)
        frames.encode_result(frame, [("l", "long")], exact)
        with self.assertRaises(frames.OutputLimit):
            frames.encode_result(frame, [("l", "long")], exact - 1)
        with self.assertRaises(frames.OutputLimit) as caught:
            frames.encode_result(pd.DataFrame({"s": ["x" * 1000] * 100}), [("s", "string")],
                                 10_000)
        self.assertIn("more than the limit of 10000 bytes", str(caught.exception))


class KustoText(unittest.TestCase):
    def test_datetime_text(self):
        for ticks, text in [(MIN_DT, "0001-01-01T00:00:00Z"),
                            (MAX_DT, "9999-12-31T23:59:59.9999999Z"),
                            (1, "1970-01-01T00:00:00.0000001Z"),
                            (-1, "1969-12-31T23:59:59.9999999Z")]:
            self.assertEqual(kv.format_datetime(ticks), text)
            self.assertEqual(kv.parse_datetime(text), ticks)
        midnight = kv.parse_datetime("2024-01-01T00:00:00Z")
        self.assertEqual(kv.parse_datetime("2024-01-01"), midnight)
        self.assertEqual(kv.parse_datetime("2024-01-01T01:00+01:00"), midnight)
        self.assertEqual(kv.parse_datetime("1970-01-01T00:00:00.000000199"), 1)
        for bad in ("2024-02-30", "2024-01-01T24:00:00", "0000-01-01", "1/1/2024",
                    "9999-12-31T23:59:59-01:00"):
            with self.assertRaises(ValueError, msg=bad):
                kv.parse_datetime(bad)

    def test_timespan_text(self):
        for ticks, text in [(0, "00:00:00"), (-1, "-00:00:00.0000001"),
                            (864000000000 + 1, "1.00:00:00.0000001"),
                            (2**63 - 1, "10675199.02:48:05.4775807")]:
            self.assertEqual(kv.format_timespan(ticks), text)
            self.assertEqual(kv.parse_timespan(text), ticks)
        self.assertEqual(kv.format_timespan(-(2**63)), "-10675199.02:48:05.4775808")


if __name__ == "__main__":
    unittest.main()

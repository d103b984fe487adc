"""The C loops (runtime_images/native/columns_module.cc) against frames.py's Python loops.

Both ways must give the same cells, cell by cell, and the same bytes: the C module only makes
the runner faster. ctest runs this file twice: `runner_python` without the module (its tests
are skipped there but the one that says why) and `runner_python_native` with the build's module
on PYTHONPATH (SANDBOXD_EXPECT_NATIVE=1), where every other runner test runs through it too.
"""

import decimal
import os
import sys
import unittest
import uuid

import numpy as np
import pandas as pd

import runner_harness
import sbxt_reference as ref

sys.path.insert(0, str(runner_harness.RUNTIME_DIR))
from sandboxd_runtime import frames, sbxt  # noqa: E402

ROWS = 1_000_000


def read(table_bytes, native):
    saved = frames._columns  # noqa: SLF001
    frames._columns = saved if native else None  # noqa: SLF001
    fd = runner_harness._memfd("input", table_bytes, seal=True)  # noqa: SLF001
    try:
        return frames.read_input(fd)
    finally:
        os.close(fd)
        frames._columns = saved  # noqa: SLF001


def encoded(result, columns, native):
    saved = frames._columns  # noqa: SLF001
    frames._columns = saved if native else None  # noqa: SLF001
    try:
        rows, parts = frames.encode_result(result, columns, 1 << 34)
    finally:
        frames._columns = saved  # noqa: SLF001
    fd = os.memfd_create("output")
    try:
        size = sbxt.write_table(fd, rows, parts)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def mixed_text(rows):
    """ASCII, empty, two-, three- and four-byte UTF-8 cells, in a repeating pattern."""
    words = ["", "a", "plain ascii", "é", "naïve café", "日本語", "𝄞 clef", "x" * 300]
    return [words[i % len(words)] + (str(i) if i % 3 else "") for i in range(rows)]


class NativeColumns(unittest.TestCase):
    def setUp(self):
        if frames._columns is None:  # noqa: SLF001
            if os.environ.get("SANDBOXD_EXPECT_NATIVE") == "1":
                self.fail("_sandboxd_columns did not load (PYTHONPATH=%s)"
                          % os.environ.get("PYTHONPATH"))
            self.skipTest("the build's _sandboxd_columns is not on PYTHONPATH")

    def test_input_cells_match_the_python_loops_at_a_million_rows(self):
        text = mixed_text(ROWS)
        guids = [None if i % 7 == 0 else str(uuid.UUID(int=i * 7919)) for i in range(ROWS)]
        decimals = [None if i % 5 == 0 else f"{i}.{i % 100}E-{i % 9}" for i in range(ROWS)]
        table = ref.encode([("s", "string", text), ("g", "guid", guids),
                            ("d", "decimal", decimals)])
        native, python = read(table, True), read(table, False)
        for name in ("s", "g", "d"):
            a, b = native[name].to_numpy(), python[name].to_numpy()
            self.assertEqual(native[name].dtype, python[name].dtype)
            self.assertEqual(len(a), ROWS)
            for i in range(ROWS):
                if a[i] != b[i] or type(a[i]) is not type(b[i]):
                    self.fail(f"column {name} row {i}: {a[i]!r} != {b[i]!r}")
        self.assertEqual(native["s"].tolist(), text)
        self.assertEqual(native["d"][1], decimal.Decimal(decimals[1]))

    def test_result_bytes_match_the_python_loops_at_a_million_rows(self):
        text = mixed_text(ROWS)
        cells = np.array(text, dtype=object)
        cells[::11] = None
        cells[5::13] = float("nan")
        cells[7::17] = np.float64("nan")  # numpy's NaN is a float too
        result = pd.DataFrame({"s": cells})
        self.assertEqual(encoded(result, [("s", "string")], True),
                         encoded(result, [("s", "string")], False))

    def test_cells_the_loop_does_not_take_go_the_python_way(self):
        # Numbers become their text, pd.NA is empty, a lone surrogate is refused by name.
        result = pd.DataFrame({"s": pd.Series(["a", 5, pd.NA, 2.5, None], dtype=object)})
        self.assertEqual(encoded(result, [("s", "string")], True),
                         encoded(result, [("s", "string")], False))
        with self.assertRaisesRegex(frames.SchemaMismatch, "row 1 holds '\\\\ud800'"):
            frames.encode_result(pd.DataFrame({"s": ["ok", "\ud800"]}), [("s", "string")], 1 << 20)

    def test_offsets_outside_the_table_are_an_error_not_a_read(self):
        table = bytearray(ref.encode([("s", "string", ["abc", "de"])]))
        rows, (column,) = sbxt.read_layout(table)
        out = np.empty(rows, dtype=object)
        module = frames._columns  # noqa: SLF001
        with self.assertRaisesRegex(ValueError, "outside the table"):
            module.decode_cells(out, bytes(table), column.values_offset, rows,
                                column.data_offset, len(table))
        with self.assertRaisesRegex(ValueError, "outside the table"):
            module.decode_cells(out, bytes(table), len(table) - 8, rows, column.data_offset,
                                column.data_length)
        # Offsets that run backwards or past the data, written into the table itself.
        broken = bytearray(table)
        broken[column.values_offset + 8:column.values_offset + 16] = (1 << 40).to_bytes(8, "little")
        with self.assertRaisesRegex(ValueError, "offsets do not cover the data"):
            module.decode_cells(out, bytes(broken), column.values_offset, rows,
                                column.data_offset, column.data_length)
        with self.assertRaisesRegex(ValueError, "not an object array"):
            module.decode_cells(np.empty(rows, dtype=np.int64), bytes(table),
                                column.values_offset, rows, column.data_offset,
                                column.data_length)

    def test_invalid_utf8_is_the_same_error_both_ways(self):
        table = ref.encode([("s", "string", ["ok", "ok"])])
        bad = bytearray(table)
        at = bytes(bad).rindex(b"okok")
        bad[at + 2] = 0xFF
        messages = []
        for native in (True, False):
            with self.assertRaises(frames.InputError) as caught:
                read(bytes(bad), native)
            messages.append(str(caught.exception))
        self.assertEqual(messages[0], messages[1])


if __name__ == "__main__":
    unittest.main()

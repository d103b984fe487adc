"""SBXT tables to pandas (`df`) and back (`result`), with Kusto's types.

Input (`read_input`), per docs/ARCHITECTURE.md, "Types":

    bool      bool; pandas 'boolean' when the column holds a null (pd.NA)
    int       int32; 'Int32' when it holds a null
    long      int64; 'Int64' when it holds a null
    real      float64; null -> NaN
    decimal   object column of decimal.Decimal; null -> None
    string    object column of str; a null (Kusto strings have none) comes in as ''
    datetime  datetime64[ns], naive UTC; null -> NaT. A column with any value outside pandas'
              nanosecond range (before 1677-09-21 or after 2262-04-11) is instead an object
              column of KustoDateTime (a datetime.datetime keeping the 100-ns digit), null -> NaT
    timespan  timedelta64[ns]; null -> NaT. Out of the nanosecond range (beyond ~292 years):
              object column of KustoTimeDelta (a datetime.timedelta), null -> NaT
    guid      object column of canonical lower-case str; null -> None
    dynamic   object column of what json.loads gives (dict, list, str, int, float, bool, None);
              null -> None

The frame has the default RangeIndex. Fixed-width columns without nulls (bool, int, long, real)
are numpy views of the input mapping, not copies. The mapping is private copy-on-write
(MAP_PRIVATE over the sealed memfd), so scripts may also write into those columns in place.

Output (`encode_result`): result columns are matched to the schema by name (labels must be
str); a missing or extra column is refused. Each column is converted losslessly or refused with
SCHEMA_MISMATCH "column 'c': expected <kusto type>, found <dtype> [; why]". What is accepted:

    every type  a column with zero rows, or one whose values are all missing (None, NaN, pd.NA,
                NaT), whatever its dtype: all nulls ('' for string)
    bool        bool, 'boolean', object of bool / numpy.bool_
    int, long   signed/unsigned integer and nullable integer columns whose values fit; float
                columns whose non-NaN values are whole and fit (NaN -> null); object columns of
                int, numpy integers, and whole floats / Decimals. bool is never an integer.
    real        float columns (NaN -> null, infinities kept; a NaN is always written as null);
                integer columns whose values are exactly representable as float64; object
                columns of float, int and Decimal values that are exact as float64
    decimal     Decimal objects (NaN and infinities kept as such), integers, floats (written as
                the shortest text that reads back as the same float, repr()); at most 64
                characters of text; the exact Decimal is kept (1.50 stays 1.50, 1E+30 stays
                1E+30), written without exponent when that needs no extra digits
    string      str values; missing values become ''. Numbers and bools are written as Python's
                str() gives them (Kusto's plugin turns the ints of os.path.getsize() into a string
                column the same way, see seeds/000); anything else (datetimes, lists, bytes) is
                refused rather than guessed at
    datetime    datetime64[ns] (tz-aware ones converted to UTC), pd.Timestamp, datetime.datetime
                (naive = UTC), datetime.date (midnight), KustoDateTime, numpy.datetime64, and
                ISO 8601 strings (kusto_values.parse_datetime). Nanoseconds below the 100-ns tick
                are truncated toward negative infinity, as Kusto truncates
    timespan    timedelta64[ns], pd.Timedelta, datetime.timedelta, KustoTimeDelta,
                numpy.timedelta64 and Kusto's [-][d.]hh:mm:ss[.fffffff] text; truncated the same
    guid        str in any form uuid.UUID reads (written canonical lower-case) and uuid.UUID
    dynamic     anything JSON can carry: dict (str / number / bool / None keys), list, tuple,
                str, int, float, bool, None, plus numpy scalars and arrays, pandas Series (as
                lists), Decimal (as its text), datetime / timespan values (as Kusto's text) and
                uuid.UUID. NaN and infinities become JSON null; a missing top-level value is a
                null cell. A str is a JSON string: text is never parsed as JSON
"""

import datetime
import decimal
import json
import math
import mmap
import os
import uuid

import numpy as np
import pandas as pd

from . import kusto_values as kv
from . import sbxt

try:
    # The per-cell loops in C (runtime_images/native/columns_module.cc). The zygote loads it from
    # its extension folder; a sandbox started without a zygote runs the Python loops below.
    import _sandboxd_columns as _columns
except ImportError:
    _columns = None


class InputError(Exception):
    """The input table cannot be read (BAD_REQUEST)."""


class SchemaMismatch(Exception):
    """The result does not fit the output schema (SCHEMA_MISMATCH)."""


class OutputLimit(Exception):
    """The result table would be larger than max_result_bytes (OUTPUT_LIMIT)."""


# --- input ----------------------------------------------------------------------------------

def read_input(fd):
    """The DataFrame `df` of the SBXT table in `fd` (an empty file is an empty table)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return pd.DataFrame(index=pd.RangeIndex(0))
    # Private and writable: pages are shared with the memfd until a script writes into a column.
    buffer = mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    try:
        rows, columns = sbxt.read_layout(buffer)
    except sbxt.FormatError as error:
        raise InputError(f"input table: {error}") from None
    index = pd.RangeIndex(rows)
    data = {}
    for column in columns:
        try:
            values = _read_column(buffer, rows, column)
        except (ValueError, UnicodeDecodeError, decimal.InvalidOperation) as error:
            raise InputError(f"input table: column {column.name!r}: {error}") from None
        # An explicit object dtype stops pandas from inferring datetimes in object columns.
        object_column = isinstance(values, np.ndarray) and values.dtype == object
        data[column.name] = pd.Series(values, index=index, copy=False,
                                      dtype=object if object_column else None)
    # copy=False keeps one block per column: consolidating same-typed columns would copy the
    # zero-copy ones. A frame of object columns only is consolidated, though (a copy of pointers):
    # pandas 1.5 takes `df.loc[i, col] = [...]` (a list into one cell) only on a single-block
    # frame, and Kusto scripts do that.
    single_block = bool(data) and all(series.dtype == object for series in data.values())
    return pd.DataFrame(data, index=index, copy=single_block)


def _read_column(buffer, rows, column):
    valid = None
    if column.validity_length:
        bits = np.frombuffer(buffer, np.uint8, column.validity_length, column.validity_offset)
        valid = np.unpackbits(bits, count=rows, bitorder="little").view(np.bool_)
        if valid.all():
            valid = None  # the dtype depends on nulls being present, not on a bitmap being sent
    kind = column.type_name
    dtype = sbxt.FIXED_DTYPES.get(kind)
    if dtype is not None:
        values = np.frombuffer(buffer, dtype, rows, column.values_offset)
        return _fixed_column(kind, values, valid)

    offsets = np.frombuffer(buffer, sbxt.OFFSET_DTYPE, rows + 1, column.values_offset)
    if offsets[0] != 0 or offsets[-1] != column.data_length or np.any(offsets[1:] < offsets[:-1]):
        raise ValueError("offsets do not cover the data")
    if _columns is not None and kind != "dynamic":
        return _decoded_cells(buffer, rows, column, kind, valid)
    data = bytes(buffer[column.data_offset:column.data_offset + column.data_length])
    bounds = offsets.tolist()
    if kind == "string":
        if data.isascii():  # byte offsets are character offsets: decode once, then slice
            text = data.decode("ascii")
            cells = [text[bounds[i]:bounds[i + 1]] for i in range(rows)]
        else:
            cells = [data[bounds[i]:bounds[i + 1]].decode("utf-8") for i in range(rows)]
        return _object_array(cells)  # a null string slot is empty: it reads as ''
    present = valid.tolist() if valid is not None else [True] * rows
    raw = [data[bounds[i]:bounds[i + 1]] if present[i] else None for i in range(rows)]
    if kind == "dynamic":
        # One json.loads over the column as a JSON array: a call per cell costs several times
        # more. Every cell is one JSON value (the daemon checked), so the array has one item
        # per row; a null cell reads as null, which is None as well.
        cells = json.loads(b"[" + b",".join(b"null" if r is None else r for r in raw) + b"]")
        if len(cells) != rows:
            raise ValueError("a dynamic cell is not a single JSON value")
        return _object_array(cells)
    parse = decimal.Decimal if kind == "decimal" else str  # guid: the canonical text
    return _object_array([None if r is None else parse(r.decode("ascii")) for r in raw])


def _decoded_cells(buffer, rows, column, kind, valid):
    """The cells of a string, guid or decimal column, decoded by the C loops."""
    make = decimal.Decimal if kind == "decimal" else None
    # A null string slot is empty and reads as '', as Kusto's strings are never null.
    flags = None if kind == "string" or valid is None else valid.view(np.uint8)
    cells = np.empty(rows, dtype=object)
    _columns.decode_cells(cells, buffer, column.values_offset, rows, column.data_offset,
                          column.data_length, flags, make)
    return cells


def _fixed_column(kind, values, valid):
    if kind in ("datetime", "timespan"):
        return _ticks_column(kind, values, valid)
    if valid is None:
        return values
    if kind == "bool":
        return pd.arrays.BooleanArray(values, ~valid)
    if kind in ("int", "long"):
        return pd.arrays.IntegerArray(values, ~valid)
    # real: the mapping is private, so writing NaN into null slots copies only the touched pages.
    values[~valid] = np.nan
    return values


def _ticks_column(kind, ticks, valid):
    present = ticks if valid is None else ticks[valid]
    if present.size == 0 or (present.min() >= -kv.NS_SAFE_TICKS
                             and present.max() <= kv.NS_SAFE_TICKS):
        nanoseconds = ticks * kv.NANOSECONDS_PER_TICK
        if valid is not None:
            nanoseconds[~valid] = np.iinfo(np.int64).min  # NaT
        return nanoseconds.view("M8[ns]" if kind == "datetime" else "m8[ns]")
    # Out of the nanosecond range: datetime64[ns] would wrap around, so keep Python objects.
    make = kv.KustoDateTime.from_ticks if kind == "datetime" else kv.KustoTimeDelta.from_ticks
    flags = valid.tolist() if valid is not None else None
    return _object_array((make(t) if flags is None or flags[i] else pd.NaT
                          for i, t in enumerate(ticks.tolist())), len(ticks))


def _object_array(cells, count=None):
    # fromiter (not np.array) so a list cell stays one object instead of becoming a dimension.
    if count is None:
        count = len(cells)
    return np.fromiter(cells, dtype=object, count=count)


# --- output ---------------------------------------------------------------------------------

class _Refused(Exception):
    """A column cannot be converted; encode_result adds the name and the types to `detail`."""

    def __init__(self, detail=None):
        super().__init__(detail)
        self.detail = detail


def encode_result(result, output_columns, max_bytes):
    """(rows, [sbxt.EncodedColumn]) of `result` in schema order, or SchemaMismatch/OutputLimit.

    `output_columns` is a list of (name, canonical type name).
    """
    series = _match_columns(result, output_columns)
    rows = len(result.index)
    names = [name for name, _ in output_columns]

    # Fail before converting anything when the fixed part alone is over the limit; then count
    # each converted column, so a runaway string column stops the run as soon as it is seen.
    remaining = [_minimum_region_bytes(rows, kind) for _, kind in output_columns]
    needed = sbxt.directory_bytes(names) + sum(remaining)
    _check_limit(needed, max_bytes, rows, exact=False)

    encoded = []
    for (name, kind), column in zip(output_columns, series):
        try:
            converted = _CONVERTERS[kind](column) if rows else _empty(kind)
        except _Refused as refusal:
            message = f"column {name!r}: expected {kind}, found {_describe(column)}"
            if refusal.detail:
                message += f"; {refusal.detail}"
            raise SchemaMismatch(message) from None
        except (MemoryError, RecursionError):
            raise
        except Exception as error:  # a value whose own methods fail (a broken __str__, say)
            raise SchemaMismatch(f"column {name!r}: expected {kind}, found {_describe(column)}; "
                                 f"conversion failed ({type(error).__name__}: {error})") from None
        column_encoded = sbxt.EncodedColumn(name, kind, *converted)
        needed += column_encoded.region_bytes() - remaining.pop(0)
        _check_limit(needed, max_bytes, rows, exact=not remaining)
        encoded.append(column_encoded)
    return rows, encoded


def _check_limit(needed, max_bytes, rows, exact):
    if needed > max_bytes:
        amount = f"{needed} bytes" if exact else f"at least {needed} bytes"
        raise OutputLimit(f"the result table ({rows} rows) needs {amount}, more than the limit of "
                          f"{max_bytes} bytes")


def _minimum_region_bytes(rows, kind):
    dtype = sbxt.FIXED_DTYPES.get(kind)
    return sbxt.aligned(rows * dtype.itemsize if dtype is not None else (rows + 1) * 8)


def _match_columns(result, output_columns):
    labels = list(result.columns)
    positions = {}
    duplicates, unexpected = [], []
    for position, label in enumerate(labels):
        if not isinstance(label, str):
            unexpected.append(f"{label!r} (a {type(label).__name__} label)")
        elif label in positions:
            duplicates.append(label)
        else:
            positions[label] = position
    wanted = {name for name, _ in output_columns}
    missing = [f"{name!r} ({kind})" for name, kind in output_columns if name not in positions]
    unexpected += [repr(label) for label in positions if label not in wanted]
    problems = []
    if duplicates:
        problems.append("repeated column " + ", ".join(repr(d) for d in dict.fromkeys(duplicates)))
    if missing:
        problems.append("missing column " + ", ".join(missing))
    if unexpected:
        problems.append("column not in the output schema " + ", ".join(unexpected))
    if problems:
        raise SchemaMismatch("result does not match the output schema: " + "; ".join(problems))
    return [result.iloc[:, positions[name]] for name, _ in output_columns]


def _describe(series):
    """The found type for messages: the dtype, and for object columns the value types."""
    if series.dtype != object:
        return str(series.dtype)
    kinds = []
    for value in series.array:
        # A class of the script's own may have any name: repr() spells out what it holds.
        kind = type(value).__name__
        kind = kind if kind.isidentifier() else repr(kind)
        if not _missing(value) and kind not in kinds:
            kinds.append(kind)
            if len(kinds) > 3:
                break
    listed = ", ".join(kinds[:3]) + (", ..." if len(kinds) > 3 else "")
    return f"object ({listed or 'all missing'})"


def _missing(value):
    """Pandas' missing markers, checked per value. Unlike pd.isna, Decimal('NaN') is a value."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return bool(np.isnat(value))
    return False


def _python_scalar(value):
    """numpy scalars as the Python values they hold (np.int64 -> int, np.bool_ -> bool)."""
    if isinstance(value, np.generic) and not isinstance(value, (np.datetime64, np.timedelta64)):
        return value.item()
    return value


def _row(series_values, position, reason=None):
    shown = repr(series_values[position])
    if len(shown) > 60:
        shown = shown[:57] + "..."
    text = f"row {position} holds {shown}"
    return f"{text}, {reason}" if reason else text


# Each converter takes the result column (rows > 0) and returns (validity, values, data) for
# sbxt.EncodedColumn, or raises _Refused.

def _validity(null):
    if null is None or not null.any():
        return b""
    return np.packbits(~null, bitorder="little").tobytes()


def _fixed(values, null, dtype):
    """Zeroes null slots (the format requires it) without touching the result's own arrays."""
    if null is not None and null.any():
        values = np.where(null, np.zeros((), dtype), values)
    return _validity(null), np.ascontiguousarray(values, dtype), b""


def _variable(cells, null):
    """cells: bytes per row (b"" for null); null: bool array or None."""
    lengths = np.fromiter(map(len, cells), dtype=np.uint64, count=len(cells))
    offsets = np.zeros(len(cells) + 1, dtype=sbxt.OFFSET_DTYPE)
    np.cumsum(lengths, out=offsets[1:])
    return _validity(null), offsets, b"".join(cells)


def _empty(kind):
    dtype = sbxt.FIXED_DTYPES.get(kind)
    if dtype is not None:
        return b"", np.zeros(0, dtype), b""
    return b"", np.zeros(1, sbxt.OFFSET_DTYPE), b""


def _all_null(kind, rows):
    null = np.ones(rows, dtype=np.bool_)
    if kind == "string":
        return _variable([b""] * rows, None)
    dtype = sbxt.FIXED_DTYPES.get(kind)
    if dtype is not None:
        return _fixed(np.zeros(rows, dtype), null, dtype)
    return _variable([b""] * rows, null)


def _numeric(series):
    """(kind, values, null) for numpy and nullable bool/int/uint/float columns, else None.

    `null` is a bool array or None; float NaN counts as null.
    """
    array = series.array
    if isinstance(array, (pd.arrays.IntegerArray, pd.arrays.BooleanArray,
                          pd.arrays.FloatingArray)):
        numpy_dtype = series.dtype.numpy_dtype
        null = np.asarray(array.isna())
        fill = np.nan if numpy_dtype.kind == "f" else 0
        values = array.to_numpy(dtype=numpy_dtype, na_value=fill)
    elif isinstance(series.dtype, np.dtype) and series.dtype.kind in "biuf":
        values = series.to_numpy()
        null = None
    else:
        return None
    if values.dtype.kind == "f":
        nan = np.isnan(values)
        null = nan if null is None else (null | nan)
    return values.dtype.kind, values, null


def _plain(series):
    """Categorical and sparse columns as their plain values; other columns unchanged."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.astype(object)
    if isinstance(series.dtype, pd.SparseDtype):
        return series.sparse.to_dense()
    return series


def _converter(kind):
    """Decorates the converter to `kind` with what every type shares: a column of missing
    values only is all nulls, whatever its dtype; categorical and sparse columns are unpacked."""
    def decorate(function):
        def convert(series):
            series = _plain(series)
            if series.dtype != object:
                if series.isna().all():
                    return _all_null(kind, len(series))
            elif all(_missing(value) for value in series.array):
                return _all_null(kind, len(series))
            return function(series)
        return convert
    return decorate


@_converter("bool")
def _to_bool(series):
    numeric = _numeric(series)
    if numeric is not None:
        kind, values, null = numeric
        if kind != "b":
            raise _Refused()
        return _fixed(values, null, sbxt.FIXED_DTYPES["bool"])
    if series.dtype != object:
        raise _Refused()
    cells = series.to_numpy()
    out = np.zeros(len(cells), dtype=np.bool_)
    null = np.zeros(len(cells), dtype=np.bool_)
    for i, value in enumerate(cells):
        if isinstance(value, (bool, np.bool_)):
            out[i] = value
        elif _missing(value):
            null[i] = True
        else:
            raise _Refused(_row(cells, i))
    return _fixed(out, null, sbxt.FIXED_DTYPES["bool"])


def _integer_converter(kind, bits):
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    dtype = sbxt.FIXED_DTYPES[kind]

    def convert(series):
        numeric = _numeric(series)
        if numeric is not None:
            number_kind, values, null = numeric
            present = ~null if null is not None else np.ones(len(values), dtype=np.bool_)
            if number_kind == "b":
                raise _Refused()
            if number_kind in "iu":
                # Bounds and the offending row in Python ints: numpy compares uint64 with int64
                # through float64, which rounds.
                if int(values[present].min(initial=0)) < low \
                        or int(values[present].max(initial=0)) > high:
                    first = next(i for i, (keep, v) in enumerate(zip(present, values.tolist()))
                                 if keep and not low <= v <= high)
                    raise _Refused(_row(values, first, f"outside the {kind} range"))
                return _fixed(values, null, dtype)
            # float: whole numbers in [low, high]; 2.0**(bits-1) is exact and just past high.
            with np.errstate(invalid="ignore"):
                bad = present & ~((values >= low) & (values < 2.0 ** (bits - 1))
                                  & (np.floor(values) == values))
            if bad.any():
                raise _Refused(_row(values, int(np.flatnonzero(bad)[0]),
                                    f"which is not a whole number in the {kind} range"))
            return _fixed(np.where(present, values, 0).astype(dtype), null, dtype)
        if series.dtype != object:
            raise _Refused()
        cells = series.to_numpy()
        out = [0] * len(cells)
        null = np.zeros(len(cells), dtype=np.bool_)
        for i, value in enumerate(cells):
            if _missing(value):
                null[i] = True
                continue
            value = _python_scalar(value)
            if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
                raise _Refused(_row(cells, i))
            if isinstance(value, (float, decimal.Decimal)):
                if not math.isfinite(value) or value != math.floor(value):
                    raise _Refused(_row(cells, i, "which is not a whole number"))
            number = int(value)
            if not low <= number <= high:
                raise _Refused(_row(cells, i, f"outside the {kind} range"))
            out[i] = number
        return _fixed(np.array(out, dtype=dtype), null, dtype)
    return _converter(kind)(convert)


_to_int = _integer_converter("int", 32)
_to_long = _integer_converter("long", 64)


def _inexact_as_float(values):
    """Mask of the integer values that float64 cannot hold exactly."""
    as_float = values.astype(np.float64)
    # Rounding can reach 2**63 (or 2**64), which does not convert back: those are inexact.
    limit = 2.0 ** (values.dtype.itemsize * 8 - (1 if values.dtype.kind == "i" else 0))
    fits = as_float < limit
    back = np.where(fits, as_float, 0).astype(values.dtype)
    return ~fits | (back != values)


@_converter("real")
def _to_real(series):
    dtype = sbxt.FIXED_DTYPES["real"]
    numeric = _numeric(series)
    if numeric is not None:
        kind, values, null = numeric
        if kind == "b":
            raise _Refused()
        if kind == "f" and values.dtype.itemsize > 8:
            # longdouble: accept only values that survive the trip to float64.
            inexact = (values.astype(np.float64) != values) & ~np.isnan(values)
        elif kind in "iu" and values.dtype.itemsize > 4:
            inexact = _inexact_as_float(values) & (~null if null is not None else True)
        else:
            inexact = None
        if inexact is not None and inexact.any():
            raise _Refused(_row(values, int(np.flatnonzero(inexact)[0]),
                                "which float64 cannot hold exactly"))
        out = values.astype(np.float64)
        nan = np.isnan(out)
        return _fixed(out, nan if null is None else (null | nan), dtype)
    if series.dtype != object:
        raise _Refused()
    cells = series.to_numpy()
    out = np.empty(len(cells), dtype=np.float64)
    for i, value in enumerate(cells):
        if _missing(value):
            out[i] = np.nan
            continue
        value = _python_scalar(value)
        if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
            raise _Refused(_row(cells, i))
        try:
            number = float(value)
        except OverflowError:
            raise _Refused(_row(cells, i, "which float64 cannot hold")) from None
        # int == float and Decimal == float compare exactly in Python (numpy's would round).
        if not isinstance(value, float) and not math.isnan(number) and number != value:
            raise _Refused(_row(cells, i, "which float64 cannot hold exactly"))
        out[i] = number
    return _fixed(out, np.isnan(out), dtype)


_MAX_DECIMAL_TEXT = 64


def _decimal_text(value):
    if value.is_nan():
        return "NaN"  # the format has one NaN: no sign, no payload, no signalling flavour
    if value.is_infinite():
        return "-Infinity" if value.is_signed() else "Infinity"
    # Both forms keep the exact Decimal (digits and exponent, so 1.50 stays 1.50). The plain one
    # reads better; with a positive exponent (1E+30) it would gain digits, so keep str()'s form.
    if value.as_tuple().exponent <= 0 and value.adjusted() > -_MAX_DECIMAL_TEXT:
        plain = format(value, "f")
        if len(plain) <= _MAX_DECIMAL_TEXT:
            return plain
    return str(value)


@_converter("decimal")
def _to_decimal(series):
    numeric = _numeric(series)
    if numeric is not None:
        kind, values, null = numeric
        if kind == "b":
            raise _Refused()
        cells = values.tolist()  # Python ints / floats: exact
    elif series.dtype == object:
        cells = list(series.array)
        null = None
    else:
        raise _Refused()
    texts = []
    nulls = np.zeros(len(cells), dtype=np.bool_)
    for i, value in enumerate(cells):
        if (null is not None and null[i]) or _missing(value):
            nulls[i] = True
            texts.append(b"")
            continue
        value = _python_scalar(value)
        if isinstance(value, decimal.Decimal):
            number = value
        elif isinstance(value, int) and not isinstance(value, bool):
            number = decimal.Decimal(value)
        elif isinstance(value, float):
            # The float's shortest round-trip text: 0.1, not 0.1000000000000000055511...
            number = decimal.Decimal(repr(value))
        else:
            raise _Refused(_row(cells, i))
        text = _decimal_text(number)
        if len(text) > _MAX_DECIMAL_TEXT:
            raise _Refused(_row(cells, i, f"longer than {_MAX_DECIMAL_TEXT} characters as text"))
        texts.append(text.encode("ascii"))
    return _variable(texts, nulls)


@_converter("string")
def _to_string(series):
    if series.dtype != object:
        if _numeric(series) is None and not isinstance(series.dtype, pd.StringDtype):
            raise _Refused()
        series = series.astype(object)
    cells = series.to_numpy()
    if _columns is not None:
        encoded = _columns.encode_strings(cells)
        if not isinstance(encoded, int):  # else a cell the loop below converts or refuses
            offsets, data = encoded
            return b"", np.frombuffer(offsets, sbxt.OFFSET_DTYPE), data
    out = []
    for i, value in enumerate(cells):
        if isinstance(value, str):
            text = value
        elif _missing(value):
            text = ""  # Kusto strings are never null
        elif isinstance(_python_scalar(value), (bool, int, float, decimal.Decimal)):
            text = str(_python_scalar(value))
        else:
            raise _Refused(_row(cells, i))
        try:
            out.append(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise _Refused(_row(cells, i, "which is not valid Unicode text")) from None
    return _variable(out, None)


def _ticks_converter(kind):
    dtype = sbxt.FIXED_DTYPES[kind]
    if kind == "datetime":
        low, high = kv.MIN_DATETIME_TICKS, kv.MAX_DATETIME_TICKS
        is_native = pd.api.types.is_datetime64_any_dtype
    else:
        low, high = kv.MIN_TIMESPAN_TICKS, kv.MAX_TIMESPAN_TICKS
        is_native = pd.api.types.is_timedelta64_dtype

    def convert(series):
        if is_native(series.dtype):
            # asi8: nanoseconds (UTC for tz-aware datetimes). Floor division truncates toward
            # negative infinity, so -1 ns is the tick before the epoch, like Kusto.
            nanoseconds = np.asarray(series.array.asi8)
            null = np.asarray(series.isna())
            return _fixed(nanoseconds // kv.NANOSECONDS_PER_TICK, null, dtype)
        if series.dtype != object:
            raise _Refused()
        cells = series.to_numpy()
        out = [0] * len(cells)
        null = np.zeros(len(cells), dtype=np.bool_)
        for i, value in enumerate(cells):
            if _missing(value) or (isinstance(value, str) and not value.strip()):
                null[i] = True
                continue
            try:
                ticks = _value_ticks(kind, value)
            except (TypeError, ValueError, OverflowError) as error:
                reason = str(error) if isinstance(value, str) else None
                raise _Refused(_row(cells, i, reason)) from None
            if not low <= ticks <= high:
                raise _Refused(_row(cells, i, f"outside Kusto's {kind} range"))
            out[i] = ticks
        return _fixed(np.array(out, dtype=dtype), null, dtype)
    return _converter(kind)(convert)


def _value_ticks(kind, value):
    if kind == "datetime":
        if isinstance(value, kv.KustoDateTime):
            return value.ticks
        if isinstance(value, pd.Timestamp):  # before datetime: it is one, with nanoseconds
            return value.value // kv.NANOSECONDS_PER_TICK
        if isinstance(value, datetime.datetime):
            return kv.datetime_ticks(value)
        if isinstance(value, datetime.date):
            return kv.datetime_ticks(datetime.datetime.combine(value, datetime.time()))
        if isinstance(value, np.datetime64):
            return pd.Timestamp(value).value // kv.NANOSECONDS_PER_TICK
        if isinstance(value, str):
            return kv.parse_datetime(value)
    else:
        if isinstance(value, kv.KustoTimeDelta):
            return value.ticks
        if isinstance(value, pd.Timedelta):
            return value.value // kv.NANOSECONDS_PER_TICK
        if isinstance(value, datetime.timedelta):
            return kv.timedelta_ticks(value)
        if isinstance(value, np.timedelta64):
            return pd.Timedelta(value).value // kv.NANOSECONDS_PER_TICK
        if isinstance(value, str):
            return kv.parse_timespan(value)
    raise TypeError(type(value).__name__)


_to_datetime = _ticks_converter("datetime")
_to_timespan = _ticks_converter("timespan")


@_converter("guid")
def _to_guid(series):
    if series.dtype != object:
        if not isinstance(series.dtype, pd.StringDtype):
            raise _Refused()
        series = series.astype(object)
    cells = series.to_numpy()
    out = []
    null = np.zeros(len(cells), dtype=np.bool_)
    for i, value in enumerate(cells):
        if _missing(value):
            null[i] = True
            out.append(b"")
            continue
        if isinstance(value, str):
            try:
                value = uuid.UUID(value)
            except ValueError:
                raise _Refused(_row(cells, i, "which is not a guid")) from None
        elif not isinstance(value, uuid.UUID):
            raise _Refused(_row(cells, i))
        out.append(str(value).encode("ascii"))
    return _variable(out, null)


_MAX_JSON_DEPTH = 256


class _NotJson(Exception):
    pass


def _json_value(value, depth=0):
    """A plain JSON-ready copy of `value`; see the module docstring for what is accepted."""
    if depth > _MAX_JSON_DEPTH:
        raise _NotJson(f"nested deeper than {_MAX_JSON_DEPTH} levels")
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return int(value)  # int subclasses (IntEnum) as plain numbers
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (np.datetime64, np.timedelta64)):
        if np.isnat(value):
            return None
    elif isinstance(value, np.generic):
        return _json_value(_python_scalar(value), depth + 1)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            key = _python_scalar(key)
            if not (key is None or isinstance(key, (str, int, float, bool))):
                raise _NotJson(f"a {type(key).__name__} key")
            out[key] = _json_value(item, depth + 1)
        return out
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        items = value.tolist() if isinstance(value, (np.ndarray, pd.Series)) else value
        return [_json_value(item, depth + 1) for item in items]
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, decimal.Decimal):
        return _decimal_text(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, np.datetime64)):
        return kv.format_datetime(_value_ticks("datetime", value))
    if isinstance(value, (datetime.timedelta, np.timedelta64)):
        return kv.format_timespan(_value_ticks("timespan", value))
    raise _NotJson(f"a {type(value).__name__} value")


# One encoder for every cell: json.dumps with options builds a new one per call.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _json_text(value):
    try:
        return _JSON.encode(value)  # the common case: plain JSON values already, no NaN
    except (TypeError, ValueError):
        pass
    except RecursionError:
        raise _NotJson(f"nested deeper than {_MAX_JSON_DEPTH} levels") from None
    return _JSON.encode(_json_value(value))


@_converter("dynamic")
def _to_dynamic(series):
    # tolist() gives Python scalars for numpy columns and Timestamps for datetime64 ones.
    cells = series.tolist()
    out = []
    null = np.zeros(len(cells), dtype=np.bool_)
    for i, value in enumerate(cells):
        if type(value) not in (list, dict, str) and _missing(value):
            null[i] = True
            out.append(b"")
            continue
        try:
            out.append(_json_text(value).encode("utf-8"))
        except _NotJson as error:
            raise _Refused(_row(cells, i, f"which holds {error} JSON cannot carry")) from None
        except (UnicodeEncodeError, OverflowError, ValueError, TypeError):
            raise _Refused(_row(cells, i, "which JSON cannot carry")) from None
    return _variable(out, null)


_CONVERTERS = {
    "bool": _to_bool, "int": _to_int, "long": _to_long, "real": _to_real,
    "decimal": _to_decimal, "string": _to_string, "datetime": _to_datetime,
    "timespan": _to_timespan, "guid": _to_guid, "dynamic": _to_dynamic,
}

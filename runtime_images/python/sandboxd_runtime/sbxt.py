"""The SBXT table buffer (proto/TABLE_FORMAT.md): reading its layout and writing one.

Only the byte layout lives here; what the columns mean to pandas is in frames.py.
"""

import dataclasses
import os
import struct

import numpy as np

MAGIC = b"SBXTBL01"
HEADER = struct.Struct("<8sQIIQ")       # magic, row_count, column_count, reserved, total size
ENTRY = struct.Struct("<QIB3xQQQQQQ")   # name off/len, type, validity, values, data (off, len)
assert HEADER.size == 32 and ENTRY.size == 64
ALIGNMENT = 8
MAX_NAME_BYTES = 1024

TYPE_CODES = {
    "bool": 1, "int": 2, "long": 3, "real": 4, "decimal": 5,
    "string": 6, "datetime": 7, "timespan": 8, "guid": 9, "dynamic": 10,
}
TYPE_NAMES = {code: name for name, code in TYPE_CODES.items()}
# Kusto's aliases, accepted case-insensitively as the daemon does (ParseColumnTypeName).
TYPE_ALIASES = {"boolean": "bool", "double": "real", "date": "datetime", "time": "timespan",
                "uniqueid": "guid"}
# Little-endian numpy dtypes of the fixed-width types; the others store u64 offsets + bytes.
FIXED_DTYPES = {
    "bool": np.dtype(np.bool_), "int": np.dtype("<i4"), "long": np.dtype("<i8"),
    "real": np.dtype("<f8"), "datetime": np.dtype("<i8"), "timespan": np.dtype("<i8"),
}
OFFSET_DTYPE = np.dtype("<u8")


class FormatError(Exception):
    """The buffer breaks a rule of TABLE_FORMAT.md."""


def canonical_type_name(name):
    """The canonical Kusto type name for `name` (or an alias), or None."""
    lowered = name.lower()
    lowered = TYPE_ALIASES.get(lowered, lowered)
    return lowered if lowered in TYPE_CODES else None


@dataclasses.dataclass
class ColumnEntry:
    name: str
    type_name: str
    validity_offset: int
    validity_length: int
    values_offset: int
    values_length: int
    data_offset: int
    data_length: int


def read_layout(buffer):
    """(row_count, [ColumnEntry]) of an SBXT buffer, checking the bounds the reader relies on.

    The daemon has validated the whole table already; these checks only keep a broken buffer
    from turning into a confusing crash instead of BAD_REQUEST.
    """
    size = len(buffer)
    if size < HEADER.size:
        raise FormatError(f"buffer of {size} bytes is shorter than the header")
    magic, rows, column_count, reserved, total = HEADER.unpack_from(buffer, 0)
    if magic != MAGIC:
        raise FormatError("bad magic")
    if reserved != 0:
        raise FormatError("reserved header field is not 0")
    if total != size:
        raise FormatError(f"header says {total} bytes, buffer has {size}")
    directory_end = HEADER.size + column_count * ENTRY.size
    if directory_end > size:
        raise FormatError("column directory runs past the buffer")

    def region(what, offset, length):
        if length == 0:
            return
        if offset % ALIGNMENT or offset < directory_end or offset + length > size:
            raise FormatError(f"{what} region [{offset}, +{length}) is misplaced")

    columns = []
    names = set()
    for index in range(column_count):
        fields = ENTRY.unpack_from(buffer, HEADER.size + index * ENTRY.size)
        name_offset, name_length, code = fields[0], fields[1], fields[2]
        if not 1 <= name_length <= MAX_NAME_BYTES:
            raise FormatError(f"column {index}: name length {name_length}")
        region(f"column {index} name", name_offset, name_length)
        try:
            name = bytes(buffer[name_offset:name_offset + name_length]).decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"column {index}: name is not UTF-8") from None
        if "\0" in name or name in names:
            raise FormatError(f"column {index}: bad or repeated name {name!r}")
        names.add(name)
        type_name = TYPE_NAMES.get(code)
        if type_name is None:
            raise FormatError(f"column {name!r}: unknown type code {code}")
        entry = ColumnEntry(name, type_name, *fields[3:])
        if entry.validity_length not in (0, (rows + 7) // 8):
            raise FormatError(f"column {name!r}: validity length {entry.validity_length}")
        dtype = FIXED_DTYPES.get(type_name)
        if dtype is not None:
            expected = rows * dtype.itemsize
        else:
            expected = (rows + 1) * OFFSET_DTYPE.itemsize
        if entry.values_length != expected:
            raise FormatError(f"column {name!r}: values length {entry.values_length}, "
                              f"expected {expected}")
        if dtype is not None and entry.data_length != 0:
            raise FormatError(f"column {name!r}: fixed-width column with data bytes")
        region(f"column {name!r} validity", entry.validity_offset, entry.validity_length)
        region(f"column {name!r} values", entry.values_offset, entry.values_length)
        region(f"column {name!r} data", entry.data_offset, entry.data_length)
        columns.append(entry)
    return rows, columns


@dataclasses.dataclass
class EncodedColumn:
    """One result column ready to be laid out: every buffer is already in its final bytes."""
    name: str
    type_name: str
    validity: bytes        # packed bitmap, or b"" when the column has no nulls
    values: object         # a contiguous little-endian numpy array (fixed) or u64 offsets
    data: bytes            # variable-width bytes; b"" for fixed types

    def region_bytes(self):
        return sum(aligned(len(part)) for part in (self.validity, memoryview(self.values).cast("B"),
                                                    self.data))


def aligned(length):
    return (length + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def directory_bytes(names):
    """Bytes of the header, directory and names: what every table of these columns needs."""
    return HEADER.size + ENTRY.size * len(names) + sum(aligned(len(n.encode())) for n in names)


def write_table(fd, rows, columns):
    """Lays out the table and writes it at offset 0 of `fd`; returns its size in bytes.

    Regions go in directory order, each at a multiple of 8. Empty regions get offset 0 (as the
    format asks of a fixed column's data). The file is sized first, so the padding between
    regions reads as zeros without being written.
    """
    cursor = HEADER.size + ENTRY.size * len(columns)
    pieces = []              # (offset, bytes-like) to write
    directory = bytearray()

    def place(payload):
        nonlocal cursor
        view = memoryview(payload).cast("B")
        if len(view) == 0:
            return 0, 0
        offset = cursor
        pieces.append((offset, view))
        cursor = aligned(cursor + len(view))
        return offset, len(view)

    for column in columns:
        name_offset, name_length = place(column.name.encode("utf-8"))
        validity = place(column.validity)
        values = place(column.values)
        data = place(column.data)
        directory += ENTRY.pack(name_offset, name_length, TYPE_CODES[column.type_name],
                                *validity, *values, *data)
    total = max([HEADER.size + len(directory)] + [off + len(view) for off, view in pieces])
    header = HEADER.pack(MAGIC, rows, len(columns), 0, total)

    os.ftruncate(fd, total)
    _pwrite_all(fd, header + directory, 0)
    for offset, view in pieces:
        _pwrite_all(fd, view, offset)
    return total


def _pwrite_all(fd, payload, offset):
    view = memoryview(payload).cast("B")
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written

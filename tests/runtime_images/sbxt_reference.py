"""An independent SBXT codec for the runner's tests (proto/TABLE_FORMAT.md).

Written apart from the runner's own encoder and reader, value by value with struct, so the two
check each other: the encoder lays regions out in another order than the runner does (names
last, columns back to front), and the decoder enforces every rule of the format, as the daemon's
validator would on a table coming out of a sandbox.

Values are plain Python, None for null:
    bool -> bool; int, long -> int; real -> float; decimal -> its text (str);
    string, guid -> str; datetime, timespan -> int ticks; dynamic -> JSON text (str)
"""

import json
import math
import re
import struct

MAGIC = b"SBXTBL01"
TYPES = ["bool", "int", "long", "real", "decimal", "string", "datetime", "timespan", "guid",
         "dynamic"]
CODE = {name: i + 1 for i, name in enumerate(TYPES)}
FIXED = {"bool": "<B", "int": "<i", "long": "<q", "real": "<d", "datetime": "<q",
         "timespan": "<q"}
MIN_DATETIME, MAX_DATETIME = -621355968000000000, 2534023007999999999
DECIMAL_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?|NaN|Infinity|-Infinity")
GUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Invalid(AssertionError):
    """The buffer breaks the format."""


def _pad(buffer):
    buffer.extend(b"\0" * (-len(buffer) % 8))


def encode(columns, rows=None, bitmap_always=False):
    """SBXT bytes of [(name, type, [values])]; `bitmap_always` sends a bitmap without nulls."""
    if rows is None:
        rows = len(columns[0][2]) if columns else 0
    directory_size = 32 + 64 * len(columns)
    body = bytearray(b"\0" * directory_size)
    entries = {}
    for index in reversed(range(len(columns))):
        name, kind, values = columns[index]
        assert len(values) == rows, name
        regions = []
        nulls = [v is None for v in values]
        if any(nulls) or bitmap_always:
            bits = bytearray((rows + 7) // 8)
            for i, null in enumerate(nulls):
                if not null:
                    bits[i // 8] |= 1 << (i % 8)
            regions.append(bytes(bits))
        else:
            regions.append(b"")
        if kind in FIXED:
            fmt = FIXED[kind]
            regions.append(b"".join(struct.pack(fmt, 0 if v is None else v) for v in values))
            regions.append(b"")
        else:
            cells = [b"" if v is None else v.encode("utf-8") for v in values]
            offsets, total = [0], 0
            for cell in cells:
                total += len(cell)
                offsets.append(total)
            regions.append(struct.pack(f"<{rows + 1}Q", *offsets))
            regions.append(b"".join(cells))
        placed = []
        for payload in regions:
            if payload:
                _pad(body)
                placed += [len(body), len(payload)]
                body += payload
            else:
                placed += [0, 0]
        entries[index] = (kind, placed)
    names = []
    for name, _, _ in columns:
        _pad(body)
        raw = name.encode("utf-8")
        names.append((len(body), len(raw)))
        body += raw
    for index, (kind, placed) in entries.items():
        struct.pack_into("<QIB3x6Q", body, 32 + 64 * index, *names[index], CODE[kind], *placed)
    struct.pack_into("<8sQIIQ", body, 0, MAGIC, rows, len(columns), 0, len(body))
    return bytes(body)


def decode(buffer):
    """(rows, [(name, type, [values])]) of a buffer, after checking every rule of the format."""
    size = len(buffer)
    if size < 32:
        raise Invalid("shorter than the header")
    magic, rows, count, reserved, total = struct.unpack_from("<8sQIIQ", buffer, 0)
    if magic != MAGIC or reserved != 0 or total != size:
        raise Invalid(f"header: magic {magic!r}, reserved {reserved}, size {total} vs {size}")
    directory_end = 32 + 64 * count
    if directory_end > size:
        raise Invalid("directory past the end")
    used = []

    def region(what, offset, length):
        if length == 0:
            return b""
        if offset % 8 or offset < directory_end or offset + length > size:
            raise Invalid(f"{what}: region at {offset} length {length}")
        for start, end, other in used:
            if offset < end and start < offset + length:
                raise Invalid(f"{what} overlaps {other}")
        used.append((offset, offset + length, what))
        return bytes(buffer[offset:offset + length])

    columns, seen = [], set()
    for index in range(count):
        (name_offset, name_length, code, validity_offset, validity_length, values_offset,
         values_length, data_offset, data_length) = struct.unpack_from("<QIB3x6Q", buffer,
                                                                       32 + 64 * index)
        if bytes(buffer[32 + 64 * index + 13:32 + 64 * index + 16]) != b"\0\0\0":
            raise Invalid("reserved directory bytes")
        if not 1 <= name_length <= 1024:
            raise Invalid("name length")
        name = region(f"name {index}", name_offset, name_length).decode("utf-8")
        if "\0" in name or name in seen:
            raise Invalid(f"name {name!r}")
        seen.add(name)
        if not 1 <= code <= len(TYPES):
            raise Invalid(f"type code {code}")
        kind = TYPES[code - 1]
        validity = region(f"{name} validity", validity_offset, validity_length)
        if validity_length not in (0, (rows + 7) // 8):
            raise Invalid(f"{name}: validity length")
        present = [True] * rows
        if validity:
            present = [bool(validity[i // 8] >> (i % 8) & 1) for i in range(rows)]
            for i in range(rows, len(validity) * 8):
                if validity[i // 8] >> (i % 8) & 1:
                    raise Invalid(f"{name}: bit past row_count")
        values_raw = region(f"{name} values", values_offset, values_length)
        data = region(f"{name} data", data_offset, data_length)
        if kind in FIXED:
            fmt = FIXED[kind]
            width = struct.calcsize(fmt)
            if values_length != rows * width or data_length or data_offset:
                raise Invalid(f"{name}: fixed lengths")
            raw = [struct.unpack_from(fmt, values_raw, i * width)[0] for i in range(rows)]
            values = []
            for i, value in enumerate(raw):
                if not present[i]:
                    if struct.pack(fmt, value) != b"\0" * width:
                        raise Invalid(f"{name}: row {i} is null but its slot is not zero")
                    values.append(None)
                    continue
                if kind == "bool":
                    if value not in (0, 1):
                        raise Invalid(f"{name}: bool {value}")
                    value = bool(value)
                if kind == "datetime" and not MIN_DATETIME <= value <= MAX_DATETIME:
                    raise Invalid(f"{name}: datetime {value} out of range")
                values.append(value)
        else:
            if values_length != (rows + 1) * 8:
                raise Invalid(f"{name}: offsets length")
            offsets = struct.unpack(f"<{rows + 1}Q", values_raw)
            if offsets[0] != 0 or offsets[-1] != data_length or any(
                    a > b for a, b in zip(offsets, offsets[1:])):
                raise Invalid(f"{name}: offsets")
            values = []
            for i in range(rows):
                cell = data[offsets[i]:offsets[i + 1]]
                if not present[i]:
                    if cell:
                        raise Invalid(f"{name}: row {i} is null but not empty")
                    values.append(None)
                    continue
                text = cell.decode("utf-8")
                if kind == "decimal" and (not DECIMAL_RE.fullmatch(text) or len(cell) > 64):
                    raise Invalid(f"{name}: decimal {text!r}")
                if kind == "guid" and not GUID_RE.fullmatch(text):
                    raise Invalid(f"{name}: guid {text!r}")
                if kind == "dynamic":
                    json.loads(text, parse_constant=_no_constants)
                values.append(text)
        columns.append((name, kind, values))
    return rows, columns


def _no_constants(name):
    raise Invalid(f"JSON constant {name} is not RFC 8259")


def same_real(a, b):
    """Equality for real cells, NaN equal to NaN."""
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or a == b

"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/), committed to the repo.

Run with the host's Debian Python (numpy, pandas): python3 tests/fuzz/make_seeds.py
Tables come from the runner's own encoder (runtime_images/python/sandboxd_runtime), frames are
ClientMessage protobufs encoded by hand (the wire format is small and stable).
"""
import decimal
import os
import struct
import sys
import zipfile
import io

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "runtime_images", "python"))

import pandas as pd  # noqa: E402

from sandboxd_runtime import frames, sbxt  # noqa: E402


def table(df, columns):
    rows, encoded = frames.encode_result(df, columns, 1 << 24)
    fd = os.memfd_create("seed")
    size = sbxt.write_table(fd, rows, encoded)
    os.lseek(fd, 0, os.SEEK_SET)
    data = os.read(fd, size)
    os.close(fd)
    return data


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def frame(payload):
    return struct.pack("<I", len(payload)) + payload


def execute(schema, script, kargs="", input_table=b""):
    request = field(2, schema) + field(3, script)
    if kargs:
        request += field(4, kargs)
    if input_table:
        request += field(9, field(1, input_table) + varint(3 << 3) + varint(len(input_table)))
    return field(2, request)


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    sine = pd.DataFrame({"x": list(range(1, 11))})
    every = pd.DataFrame({
        "b": [True, None], "i": pd.array([1, None], dtype="Int32"), "l": [1, 2],
        "r": [0.5, float("nan")], "d": [decimal.Decimal("1.25"), None], "s": ["a", "ü"],
        "t": pd.to_datetime(["2024-01-01", None]), "ts": pd.to_timedelta(["1h", None]),
        "g": ["0f8fad5b-d9cb-469f-a165-70867728950e", None], "y": [{"a": [1, 2]}, None]})
    every_columns = [("b", "bool"), ("i", "int"), ("l", "long"), ("r", "real"),
                     ("d", "decimal"), ("s", "string"), ("t", "datetime"), ("ts", "timespan"),
                     ("g", "guid"), ("y", "dynamic")]
    sine_table = table(sine, [("x", "long")])
    every_table = table(every, every_columns)
    write("sbxt_validator", "sine", sine_table)
    write("sbxt_validator", "every_type", every_table)
    write("sbxt_validator", "empty", table(pd.DataFrame({"x": []}), [("x", "string")]))

    write("frame_request", "sine", frame(execute(
        "typeof(*, fx:real)", "result = df\nresult['fx'] = np.sin(df['x'])\n",
        '{"gain": 100, "cycles": [4]}', sine_table)))
    write("frame_request", "every_type", frame(execute("typeof(*)", "result = df", "",
                                                       every_table)))
    write("frame_request", "two_frames", frame(execute("typeof(x:long)", "result = df")) * 2)
    write("frame_request", "list_images", frame(field(3, b"")))

    for name, text in {"star": "typeof(*, fx:real)",
                       "every_type": "typeof(b:bool, i:int, l:long, r:real, d:decimal, "
                                     "s:string, t:datetime, ts:timespan, g:guid, y:dynamic)",
                       "quoted": "typeof(['odd name']:string, [\"x\\\"y\"]:long, ['a\\\\b']:real)",
                       "aliases": "typeof(a:int32, b:int64, c:double, d:date, e:time, "
                                  "f:uniqueid, g:boolean)"}.items():
        write("typeof", name, text.encode())

    write("csv", "every_type",
          b"b:bool,i:int,l:long,r:real,d:decimal,s:string,t:datetime,ts:timespan,"
          b"g:guid,y:dynamic\n"
          b"true,1,2,0.5,1.25,\"a, \"\"quoted\"\"\",2024-01-01T00:00:00Z,01:00:00,"
          b"0f8fad5b-d9cb-469f-a165-70867728950e,\"{\"\"a\"\":[1,2]}\"\n"
          b",,,,,,,,,\n")
    write("csv", "single_column", b"x:string\n\nhello\n\n")
    write("csv", "bom_crlf", b"\xef\xbb\xbfx:long,['my name']:string\r\n1,a\r\n")

    for name, text in {"object": '{"a": [1, 2.5e3, true, null, "\\u00fc"], "b": {"c": {}}}',
                       "deep": "[" * 63 + "]" * 63, "too_deep": "[" * 65 + "]" * 65,
                       "scalars": '"x"', "bad": '{"a": 1,}'}.items():
        write("json_depth", name, text.encode())

    def zipped(entries):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, data in entries.items():
                archive.writestr(path, data)
        return buffer.getvalue()
    wheel = zipped({"pkg/__init__.py": "x = 1\n",
                    "pkg-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
                                               "Tag: py3-none-any\n",
                    "pkg-1.0.dist-info/METADATA": "Name: pkg\nVersion: 1.0\n",
                    "pkg-1.0.dist-info/RECORD": ""})
    write("bundle", "wheel", wheel)
    write("bundle", "zip_of_wheels", zipped({"pkg-1.0-py3-none-any.whl": wheel}))
    write("bundle", "folder", zipped({"model/weights.txt": "1 2 3\n", "README": "hi\n"}))
    write("bundle", "zip_slip", zipped({"../escape.txt": "x"}))

    write("callout_policy", "allow",
          b'[{"CalloutType": "sandbox_artifacts", "CalloutUriRegex": '
          b'"^https://[a-z0-9]+\\\\.blob\\\\.core\\\\.windows\\\\.net/", "CanCall": true}]'
          b"\0https://account.blob.core.windows.net/python/faker.zip")
    write("callout_policy", "rules_object",
          b'{"rules": [{"CalloutType": "sandbox_artifacts", "CalloutUriRegex": ".*", '
          b'"CanCall": false}, {"CalloutType": "webapi", "CalloutUriRegex": "x", '
          b'"CanCall": true}]}\0https://127.0.0.1:10000/devstoreaccount1/python/a.txt')

    policy = os.path.join(HERE, "..", "..", "policy", "sandbox.seccomp")
    with open(policy, "rb") as f:
        write("seccomp_policy", "shipped", f.read())
    write("seccomp_policy", "small",
          b"default notify\nbadarch kill_process\ndefine X AF_UNIX | 2\n"
          b"allow read write\nallow socket if arg0 == X && arg1 & 0xf == SOCK_STREAM\n"
          b"errno(EAFNOSUPPORT) socket otherwise\nwhen memfd_noexec_seal allow memfd_create\n")

    # columns_native: u32 rows, u8 flags, u16 offsets_at, u16 data_at, then the column's regions.
    def column(cells, flags=0):
        data = b"".join(cells)
        ends, at = [0], 0
        for cell in cells:
            at += len(cell)
            ends.append(at)
        offsets = b"".join(struct.pack("<Q", e) for e in ends)
        return struct.pack("<IBHH", len(cells), flags, 0, len(offsets)) + offsets + data
    write("columns_native", "ascii", column([b"", b"a", b"hello", b"x" * 40]))
    write("columns_native", "utf8", column(["é".encode(), "日本語".encode(), "𝄞".encode()]))
    write("columns_native", "nulls_made", column([b"1.5", b"", b"-2E+3"], flags=3))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Builds the bundles the artifact tests use, into the folder given as argv[1].

Good bundles:
    faker_wheels.zip       a flat zip of one pure wheel: faker-0.1-py3-none-any.whl (Faker().name())
    faker-0.1-py3-none-any.whl  the same wheel, bare
    cext_wheels.zip        a zip of a compiled extension wheel (gcc against python3.11's headers):
                           fastsum-1.0-cp311-cp311-manylinux_2_17_x86_64.whl, fastsum.add(a, b)
    pkgfolder.zip          a zip of a package folder: mypkg/__init__.py
    model.zip              plain files: model/weights.txt, model/config.json
Refused wheels:
    win_wheels.zip (win_amd64), py36_wheels.zip (cp36), mac_wheels.zip (macosx),
    newglibc_wheels.zip (manylinux_2_99)
Hostile zips (SECURITY_PROBES.md group H):
    h1_*.zip  zip-slip: ../../x, a/../../x, ..\\x, /etc/x, C:/x
    h2_*.zip  a symlink entry then a file written through it; a symlink alone
    h3_*.zip  bombs: ratio, total size, entry count, a central directory that lies about sizes,
              overlapping entries
    h4_*.zip  duplicates, case twins, control characters, '/'-only, very long, Unicode twins
    h5_*.zip  a FIFO, a character device, setuid/world-writable modes (accepted, normalized)
"""

import base64
import hashlib
import io
import os
import stat
import struct
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

OUT = sys.argv[1]


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def zip_bytes(entries, compression=zipfile.ZIP_DEFLATED):
    """entries: [(ZipInfo or name, bytes)]"""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as z:
        for info, data in entries:
            if isinstance(info, str):
                info = zipfile.ZipInfo(info, date_time=(2024, 1, 1, 0, 0, 0))
                info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = compression
            z.writestr(info, data)
    return buffer.getvalue()


def wheel(dist, version, tag, files):
    """A proper wheel: files, dist-info/METADATA, WHEEL, RECORD."""
    info_dir = f"{dist}-{version}.dist-info"
    purelib = "true" if tag.endswith("-none-any") else "false"
    files = dict(files)
    files[f"{info_dir}/METADATA"] = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode()
    files[f"{info_dir}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: sandboxd-tests\n"
                                  f"Root-Is-Purelib: {purelib}\nTag: {tag}\n").encode()
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info_dir}/RECORD,,")
    files[f"{info_dir}/RECORD"] = ("\n".join(record) + "\n").encode()
    name = f"{dist}-{version}-{tag}.whl"
    return name, zip_bytes(sorted(files.items()))


FAKER = b'''"""A tiny stand-in for the real Faker (not available offline)."""
import random

_FIRST = ["Gary", "Emma", "Ashley", "Liam", "Olivia", "Noah"]
_LAST = ["Tapia", "Evans", "Bowen", "Smith", "Jones", "Brown"]


class Faker:
    def __init__(self, seed=None):
        self._random = random.Random(seed)

    def name(self):
        return f"{self._random.choice(_FIRST)} {self._random.choice(_LAST)}"
'''


def good():
    name, data = wheel("faker", "0.1", "py3-none-any", {"faker/__init__.py": FAKER})
    write(name, data)
    write("faker_wheels.zip", zip_bytes([(name, data)]))
    write("pkgfolder.zip", zip_bytes([("mypkg/__init__.py", b"def hello():\n    return 'hello from mypkg'\n"),
                                      ("mypkg/util/__init__.py", b"VALUE = 42\n")]))
    write("model.zip", zip_bytes([("model/weights.txt", b"0.5 0.25 0.125\n"),
                                  ("model/config.json", b'{"layers": 3}\n')]))
    # Refused wheels: the same package with tags this image cannot run.
    for out, tag in [("win_wheels.zip", "cp311-cp311-win_amd64"), ("py36_wheels.zip", "cp36-cp36m-manylinux1_x86_64"),
                     ("mac_wheels.zip", "py3-none-macosx_10_9_x86_64"),
                     ("newglibc_wheels.zip", "cp311-cp311-manylinux_2_99_x86_64")]:
        n, d = wheel("faker", "0.1", tag, {"faker/__init__.py": FAKER})
        write(out, zip_bytes([(n, d)]))


CEXT = r'''
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject* add(PyObject* self, PyObject* args) {
  long a, b;
  if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
  return PyLong_FromLong(a + b);
}
static PyMethodDef methods[] = {{"add", add, METH_VARARGS, "a + b in C"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "fastsum", NULL, -1, methods};
PyMODINIT_FUNC PyInit_fastsum(void) { return PyModule_Create(&module); }
'''


def cext():
    include = "/usr/include/python3.11"
    if not os.path.exists(os.path.join(include, "Python.h")):
        print("make_bundles: no python3.11 headers; skipping the C extension wheel", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "fastsum.c")
        so = os.path.join(tmp, "fastsum.so")
        with open(src, "w") as f:
            f.write(CEXT)
        subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-I", include, src, "-o", so], check=True)
        with open(so, "rb") as f:
            data = f.read()
    name, whl = wheel("fastsum", "1.0", "cp311-cp311-manylinux_2_17_x86_64",
                      {"fastsum.cpython-311-x86_64-linux-gnu.so": data})
    write("cext_wheels.zip", zip_bytes([(name, whl)]))


def info(name, mode=stat.S_IFREG | 0o644):
    i = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    i.create_system = 3
    i.external_attr = mode << 16
    return i


def raw_name_zip(names):
    """Entries whose names zipfile would not write as they are: written with placeholder names of
    the same length, then patched at the name fields of the local and central headers."""
    names = [n if isinstance(n, bytes) else n.encode() for n in names]
    placeholders = [f"{i:0{len(n)}d}"[-len(n):] if len(n) > 1 else "q" for i, n in enumerate(names)]
    data = bytearray(zip_bytes([(p, b"x") for p in placeholders], zipfile.ZIP_STORED))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        offsets = [i.header_offset for i in z.infolist()]
    eocd = data.rfind(b"PK\x05\x06")
    cd = struct.unpack_from("<I", data, eocd + 16)[0]
    for offset, name in zip(offsets, names):
        data[offset + 30:offset + 30 + len(name)] = name
        name_len, extra_len, comment_len = struct.unpack_from("<3H", data, cd + 28)
        data[cd + 46:cd + 46 + len(name)] = name
        cd += 46 + name_len + extra_len + comment_len
    return bytes(data)


def hostile():
    # H1: zip-slip
    write("h1_dotdot.zip", zip_bytes([(info("../../x"), b"evil")]))
    write("h1_inner_dotdot.zip", zip_bytes([(info("a/../../x"), b"evil")]))
    write("h1_backslash.zip", raw_name_zip([b"..\\x"]))
    write("h1_absolute.zip", raw_name_zip([b"/etc/x"]))
    write("h1_drive.zip", raw_name_zip([b"C:/x"]))
    # H2: links
    write("h2_symlink_then_write.zip", zip_bytes([(info("link", stat.S_IFLNK | 0o777), b"/etc"),
                                                  (info("link/passwd"), b"evil")]))
    write("h2_symlink.zip", zip_bytes([(info("link", stat.S_IFLNK | 0o777), b"../../../etc/shadow")]))
    # H3: bombs
    write("h3_ratio.zip", zip_bytes([("zeros.bin", b"\0" * (3 << 20))]))
    write("h3_declared.zip", zip_bytes([("zeros.bin", b"\0" * (64 << 20))]))
    write("h3_total.zip", zip_bytes([(f"part{i}.bin", os.urandom(1 << 20)) for i in range(6)]))
    write("h3_count.zip", zip_bytes([(f"f{i}.txt", b"") for i in range(3000)], zipfile.ZIP_STORED))
    # An end-of-central-directory record that declares 60 000 entries for a directory of one:
    # refused on the declared count, before libzip reads the directory.
    declared = bytearray(zip_bytes([("one.txt", b"1")], zipfile.ZIP_STORED))
    eocd = declared.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", declared, eocd + 8, 60000, 60000)
    write("h3_declared_count.zip", bytes(declared))
    # 70 000 entries: more than the classic record can count, so the zip64 one does.
    write("h3_zip64_count.zip",
          zip_bytes([(f"{i}", b"") for i in range(70000)], zipfile.ZIP_STORED))
    # A central directory that claims a 5-byte entry holding 64 KiB of data.
    payload = os.urandom(64 << 10)
    lying = bytearray(zip_bytes([("liar.bin", payload)], zipfile.ZIP_STORED))
    for sig in (b"PK\x01\x02", b"PK\x03\x04"):
        at = lying.find(sig)
        offset = 24 if sig == b"PK\x01\x02" else 22  # uncompressed size field
        struct.pack_into("<I", lying, at + offset, 5)
    write("h3_lying_sizes.zip", bytes(lying))
    # Overlapping entries: 2000 central-directory records pointing at the same compressed data.
    one = zip_bytes([("a.bin", b"\0" * (1 << 20))])
    cd = one.find(b"PK\x01\x02")
    eocd = one.find(b"PK\x05\x06")
    local, record = one[:cd], one[cd:eocd]
    records = b""
    n = 2000
    for i in range(n):
        r = bytearray(record)
        name = f"{i:05d}".encode()
        r = r[:46] + name + r[46 + 5:]
        records += bytes(r)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, n, n, len(records), len(local), 0)
    write("h3_overlap.zip", local + records + end)
    # H4: names
    write("h4_duplicate.zip", zip_bytes([("same.txt", b"1"), ("same.txt", b"2")]))
    write("h4_case_twins.zip", zip_bytes([("README.txt", b"1"), ("readme.TXT", b"2")]))
    write("h4_control.zip", raw_name_zip([b"bad\x01name"]))
    write("h4_slash_only.zip", raw_name_zip([b"/"]))
    write("h4_long.zip", zip_bytes([(("a" * 200 + "/") * 6 + "x", b"1")]))
    write("h4_deep.zip", zip_bytes([("d/" * 300 + "x", b"1")]))
    write("h4_unicode.zip", zip_bytes([("caf\u00e9.txt", b"1"), ("cafe\u0301.txt", b"2")]))
    # H5: types and modes
    write("h5_fifo.zip", zip_bytes([(info("pipe", stat.S_IFIFO | 0o644), b"")]))
    write("h5_device.zip", zip_bytes([(info("dev", stat.S_IFCHR | 0o666), b"")]))
    write("h5_modes.zip", zip_bytes([(info("suid", stat.S_IFREG | 0o6777), b"#!/bin/sh\n"),
                                     (info("world", stat.S_IFREG | 0o666), b"w"),
                                     (info("sticky/", stat.S_IFDIR | 0o1777), b"")]))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    good()
    cext()
    hostile()

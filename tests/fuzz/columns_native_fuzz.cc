// The runner's C loops (runtime_images/native/columns_module.cc) in an embedded Python: the
// input is a column's regions as the runner hands them over, taken from hostile bytes. Layout:
// u32 rows, u8 flags (bit 0: a validity flag per row, bit 1: make=str), u16 offsets_at, u16
// data_at, then the buffer. Whatever decode_cells accepts must read back through encode_strings
// as the same bytes; whatever it refuses must be a ValueError or UnicodeDecodeError.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" PyObject* PyInit__sandboxd_columns();

// Python's own allocations live as long as the interpreter: not leaks of this target.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }

namespace {

PyObject* check = nullptr;

constexpr const char* kCheck = R"(
import numpy as np
import _sandboxd_columns as columns

def check(data):
    if len(data) < 9:
        return
    rows = int.from_bytes(data[0:4], "little") % 4097
    flags = data[4]
    offsets_at = int.from_bytes(data[5:7], "little")
    data_at = int.from_bytes(data[7:9], "little")
    buffer = bytes(data[9:])
    data_length = max(0, len(buffer) - data_at)
    valid = bytes((i * 7 + flags) % 3 != 0 for i in range(rows)) if flags & 1 else None
    make = str if flags & 2 else None
    out = np.empty(rows, dtype=object)
    try:
        columns.decode_cells(out, buffer, offsets_at, rows, data_at, data_length, valid, make)
    except (ValueError, UnicodeDecodeError):
        return
    cells = out.tolist()
    for i, cell in enumerate(cells):
        assert (cell is None) == (valid is not None and valid[i] == 0), (i, cell)
        assert cell is None or type(cell) is str, (i, cell)
    encoded = columns.encode_strings(cells)
    assert not isinstance(encoded, int), encoded
    offsets, text = encoded
    ends = np.frombuffer(offsets, "<u8")
    assert len(ends) == rows + 1 and ends[0] == 0 and ends[-1] == len(text)
    for i, cell in enumerate(cells):
        assert text[ends[i]:ends[i + 1]] == ("" if cell is None else cell).encode(), i
)";

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  PyImport_AppendInittab("_sandboxd_columns", PyInit__sandboxd_columns);
  Py_InitializeEx(0);
  PyObject* globals = PyDict_New();
  PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
  PyObject* done = PyRun_String(kCheck, Py_file_input, globals, globals);
  if (done == nullptr) {
    PyErr_Print();
    std::abort();
  }
  Py_DECREF(done);
  check = PyDict_GetItemString(globals, "check");
  Py_INCREF(check);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  PyObject* bytes =
      PyBytes_FromStringAndSize(reinterpret_cast<const char*>(data), static_cast<Py_ssize_t>(size));
  PyObject* result = PyObject_CallOneArg(check, bytes);
  Py_DECREF(bytes);
  if (result == nullptr) {
    // An assertion of the check, or an exception decode_cells must not raise: a finding.
    PyErr_Print();
    std::abort();
  }
  Py_DECREF(result);
  return 0;
}

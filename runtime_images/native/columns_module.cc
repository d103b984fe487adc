// _sandboxd_columns: the runner's per-cell loops over variable-width SBXT columns
// (proto/TABLE_FORMAT.md), in C so that a column of millions of strings costs no Python bytecode
// per row. frames.py calls it and keeps every rule of the format and every message: where a
// column holds something this module does not take, it says so and frames.py goes the slow way.
//
// decode_cells(out, buffer, offsets_at, rows, data_at, data_length, valid=None, make=None)
//   Fills `out`, a numpy object array of `rows` cells (numpy lends its buffer, format "O"), with
//   the cells of one column: cell i is data[offsets[i]:offsets[i+1]] decoded as UTF-8 (None where
//   `valid` is given and valid[i] is 0; make(text) where `make` is given). The buffer is the
//   input table mapped by the runner; every offset is checked against it here too, so a bad
//   table is an error, never a read outside the buffer.
// encode_strings(cells) -> (offsets, data) | int
//   A `string` result column: cells that are str (or None or a float NaN, which are Kusto's
//   empty string) as u64 offsets and UTF-8 bytes. An int is the first cell it does not take
//   (another type, or text that is not valid Unicode): frames.py converts that column itself.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace {

// Reads offsets[i] (little-endian u64; the format's byte order, and this host's).
std::uint64_t OffsetAt(const unsigned char* offsets, Py_ssize_t i) {
  std::uint64_t value = 0;
  std::memcpy(&value, offsets + static_cast<std::size_t>(i) * 8, sizeof(value));
  return value;
}

bool IsAscii(const unsigned char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] >= 0x80) return false;
  }
  return true;
}

// One cell as a str: ASCII is copied into a compact str without a decoder's checks.
PyObject* DecodeCell(const unsigned char* p, std::size_t n) {
  if (n <= 0x7fffffff && IsAscii(p, n)) {
    PyObject* text = PyUnicode_New(static_cast<Py_ssize_t>(n), 127);
    if (text != nullptr && n > 0) std::memcpy(PyUnicode_DATA(text), p, n);
    return text;
  }
  return PyUnicode_DecodeUTF8(reinterpret_cast<const char*>(p), static_cast<Py_ssize_t>(n),
                              "strict");
}

PyObject* DecodeCells(PyObject* /*self*/, PyObject* args, PyObject* kwargs) {
  static const char* kNames[] = {"out",         "buffer", "offsets_at", "rows", "data_at",
                                 "data_length", "valid",  "make",       nullptr};
  PyObject* out = nullptr;
  Py_buffer buffer{};
  Py_ssize_t offsets_at = 0;
  Py_ssize_t rows = 0;
  Py_ssize_t data_at = 0;
  Py_ssize_t data_length = 0;
  PyObject* valid = Py_None;
  PyObject* make = Py_None;
  if (PyArg_ParseTupleAndKeywords(args, kwargs, "Oy*nnnn|OO", const_cast<char**>(kNames), &out,
                                  &buffer, &offsets_at, &rows, &data_at, &data_length, &valid,
                                  &make) == 0) {
    return nullptr;
  }
  PyObject* filled = nullptr;
  Py_buffer cells{};
  Py_buffer valid_buffer{};
  bool have_valid = false;
  const auto size = static_cast<std::uint64_t>(buffer.len);
  const auto* base = static_cast<const unsigned char*>(buffer.buf);
  // Every region inside the buffer: (rows + 1) offsets at offsets_at, data_length bytes at data_at.
  const bool regions_fit =
      offsets_at >= 0 && rows >= 0 && data_at >= 0 && data_length >= 0 &&
      static_cast<std::uint64_t>(rows) < (std::numeric_limits<std::uint64_t>::max() / 8) - 1 &&
      static_cast<std::uint64_t>(offsets_at) <= size &&
      (static_cast<std::uint64_t>(rows) + 1) * 8 <= size - static_cast<std::uint64_t>(offsets_at) &&
      static_cast<std::uint64_t>(data_at) <= size &&
      static_cast<std::uint64_t>(data_length) <= size - static_cast<std::uint64_t>(data_at);
  if (!regions_fit) {
    PyErr_SetString(PyExc_ValueError, "the column's regions lie outside the table");
    PyBuffer_Release(&buffer);
    return nullptr;
  }
  if (PyObject_GetBuffer(out, &cells, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) != 0) {
    PyBuffer_Release(&buffer);
    return nullptr;
  }
  if (cells.format == nullptr || std::strcmp(cells.format, "O") != 0 ||
      cells.itemsize != static_cast<Py_ssize_t>(sizeof(PyObject*)) ||
      cells.len != rows * cells.itemsize) {
    PyErr_SetString(PyExc_ValueError, "out is not an object array of the column's rows");
    goto done;
  }
  if (valid != Py_None) {
    if (PyObject_GetBuffer(valid, &valid_buffer, PyBUF_SIMPLE) != 0) goto done;
    have_valid = true;
    if (valid_buffer.len != rows) {
      PyErr_SetString(PyExc_ValueError, "the validity flags do not match the rows");
      goto done;
    }
  }
  {
    const unsigned char* offsets = base + offsets_at;
    const unsigned char* data = base + data_at;
    const auto* flags = static_cast<const unsigned char*>(valid_buffer.buf);
    auto** slots = static_cast<PyObject**>(cells.buf);
    std::uint64_t begin = OffsetAt(offsets, 0);
    for (Py_ssize_t i = 0; i < rows; ++i) {
      const std::uint64_t end = OffsetAt(offsets, i + 1);
      if (begin > end || end > static_cast<std::uint64_t>(data_length)) {
        PyErr_SetString(PyExc_ValueError, "offsets do not cover the data");
        goto done;
      }
      PyObject* cell = nullptr;
      if (have_valid && flags[i] == 0) {
        cell = Py_NewRef(Py_None);
      } else {
        cell = DecodeCell(data + begin, end - begin);
        if (cell != nullptr && make != Py_None) {
          PyObject* made = PyObject_CallOneArg(make, cell);
          Py_DECREF(cell);
          cell = made;
        }
      }
      if (cell == nullptr) goto done;
      // The slot's reference (numpy filled the array with None) is replaced, as numpy does.
      PyObject* old = slots[i];
      slots[i] = cell;
      Py_XDECREF(old);
      begin = end;
    }
  }
  filled = Py_NewRef(Py_None);
done:
  if (have_valid) PyBuffer_Release(&valid_buffer);
  if (cells.obj != nullptr) PyBuffer_Release(&cells);
  PyBuffer_Release(&buffer);
  return filled;
}

// The UTF-8 bytes of a cell encode_strings takes, or false (with no Python error set).
bool CellText(PyObject* cell, const char** text, Py_ssize_t* length) {
  if (PyUnicode_Check(cell)) {
    *text = PyUnicode_AsUTF8AndSize(cell, length);
    if (*text != nullptr) return true;
    PyErr_Clear();  // a lone surrogate: frames.py names the row
    return false;
  }
  if (cell == Py_None || (PyFloat_Check(cell) && std::isnan(PyFloat_AS_DOUBLE(cell)))) {
    *text = "";
    *length = 0;
    return true;
  }
  return false;
}

PyObject* EncodeStrings(PyObject* /*self*/, PyObject* sequence) {
  PyObject* cells = PySequence_Fast(sequence, "encode_strings takes a sequence of cells");
  if (cells == nullptr) return nullptr;
  const Py_ssize_t rows = PySequence_Fast_GET_SIZE(cells);
  PyObject** items = PySequence_Fast_ITEMS(cells);
  PyObject* result = nullptr;
  std::uint64_t total = 0;
  for (Py_ssize_t i = 0; i < rows; ++i) {
    const char* text = nullptr;
    Py_ssize_t length = 0;
    if (!CellText(items[i], &text, &length)) {
      Py_DECREF(cells);
      return PyLong_FromSsize_t(i);
    }
    total += static_cast<std::uint64_t>(length);
  }
  if (total > static_cast<std::uint64_t>(PY_SSIZE_T_MAX)) {
    Py_DECREF(cells);
    return PyErr_NoMemory();
  }
  PyObject* offsets = PyBytes_FromStringAndSize(nullptr, (rows + 1) * 8);
  PyObject* data = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(total));
  if (offsets != nullptr && data != nullptr) {
    char* offset_bytes = PyBytes_AS_STRING(offsets);
    char* out = PyBytes_AS_STRING(data);
    std::uint64_t at = 0;
    std::memcpy(offset_bytes, &at, sizeof(at));
    for (Py_ssize_t i = 0; i < rows; ++i) {
      const char* text = nullptr;
      Py_ssize_t length = 0;
      (void)CellText(items[i], &text, &length);  // took every cell above
      if (length > 0) std::memcpy(out + at, text, static_cast<std::size_t>(length));
      at += static_cast<std::uint64_t>(length);
      std::memcpy(offset_bytes + static_cast<std::size_t>(i + 1) * 8, &at, sizeof(at));
    }
    result = PyTuple_Pack(2, offsets, data);
  }
  Py_XDECREF(offsets);
  Py_XDECREF(data);
  Py_DECREF(cells);
  return result;
}

PyMethodDef kMethods[] = {
    {"decode_cells", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(DecodeCells)),
     METH_VARARGS | METH_KEYWORDS,
     "decode_cells(out, buffer, offsets_at, rows, data_at, data_length, valid=None, make=None): "
     "fills the object array out with the cells of a variable-width column (str; None where "
     "valid[i] is 0; make(text) where make is given)"},
    {"encode_strings", EncodeStrings, METH_O,
     "encode_strings(cells) -> (offsets, data), or the index of the first cell it does not take"},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT,
                       "_sandboxd_columns",
                       "The runner's per-cell loops (runtime_images/native/columns_module.cc).",
                       -1,
                       kMethods,
                       nullptr,
                       nullptr,
                       nullptr,
                       nullptr};

}  // namespace

// CPython finds the module by this name (PyInit_ and the module's name, which starts with "_").
PyMODINIT_FUNC PyInit__sandboxd_columns() {  // NOLINT(bugprone-reserved-identifier)
  return PyModule_Create(&kModule);
}

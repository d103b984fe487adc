// The SBXT validator: whatever a sandbox leaves in its output memfd. What it accepts must be
// safe to read cell by cell, so every cell is formatted after a successful Open.
#include <cstddef>
#include <cstdint>
#include <span>

#include "sandboxd/table.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sandboxd::TableLimits limits;
  limits.max_rows = 1 << 16;
  auto view = sandboxd::TableView::Open(
      std::as_bytes(std::span(reinterpret_cast<const char*>(data), size)), limits);
  if (!view.ok()) return 0;
  std::size_t total = 0;
  for (std::size_t c = 0; c < view->column_count(); ++c) {
    for (std::uint64_t r = 0; r < view->row_count() && r < 4096; ++r)
      total += view->FormatCell(c, r).size();
  }
  return total == static_cast<std::size_t>(-1) ? 1 : 0;
}

// sandboxctl's CSV reader: the field splitter, and a typed table from a `name:type` header,
// which is then validated and written back out.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string_view>

#include "csv.h"
#include "sandboxd/table.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)sandboxctl::ParseCsv(text);
  sandboxd::TableLimits limits;
  limits.max_bytes = 16U << 20;
  auto table = sandboxctl::ReadCsvTable(text, limits);
  if (!table.ok()) return 0;
  std::ostringstream out;
  sandboxctl::WriteCsvTable(table->view(), out);
  return 0;
}

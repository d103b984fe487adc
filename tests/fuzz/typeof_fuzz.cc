// The typeof(...) parser, and what it promises of what it accepts: every name passes the SBXT
// name check, and a schema written back by FormatColumnName parses to the same columns.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sandboxd/schema.h"
#include "sandboxd/types.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)sandboxd::ParseColumnSpec(text);
  auto schema = sandboxd::ParseTypeof(text);
  if (!schema.ok()) return 0;
  std::string again = schema->star ? "typeof(*" : "typeof(";
  bool first = !schema->star;
  for (const auto& column : schema->columns) {
    if (!sandboxd::CheckColumnName(column.name).ok()) std::abort();
    again += first ? "" : ", ";
    first = false;
    again += sandboxd::FormatColumnName(column.name) + ":" +
             std::string(sandboxd::ColumnTypeName(column.type));
  }
  again += ")";
  auto reparsed = sandboxd::ParseTypeof(again);
  if (!reparsed.ok() || reparsed->columns.size() != schema->columns.size()) std::abort();
  for (std::size_t i = 0; i < schema->columns.size(); ++i) {
    if (!(reparsed->columns[i] == schema->columns[i])) std::abort();
  }
  return 0;
}

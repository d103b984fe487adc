// Output schemas: Kusto's `typeof(name:type, ...)` literal, with `*` for "every input column".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "sandboxd/status.h"
#include "sandboxd/types.h"

namespace sandboxd {

// The most columns an output schema may have, those of `*` included: the most an SBXT table may
// hold (TableLimits::max_columns), so a wider result could never be accepted. Checked up front,
// as BAD_REQUEST naming the limit and the count, instead of after a run (README, "Errors").
inline constexpr std::size_t kMaxSchemaColumns = 10000;

struct ColumnSpec {
  std::string name;
  ColumnType type;
  bool operator==(const ColumnSpec&) const = default;
};

struct OutputSchema {
  bool star = false;                // `*` appears (at most once, first)
  std::vector<ColumnSpec> columns;  // the named columns after `*`
  // Back to `typeof(...)` text with canonical type names.
  std::string ToString() const;
};

// Parses `typeof(*, a:long, ['odd name']:string)`. Names may be bare identifiers or Kusto's
// bracketed quoted form. Errors are BAD_REQUEST with the position and what was expected; more than
// kMaxSchemaColumns named columns are BAD_REQUEST too.
StatusOr<OutputSchema> ParseTypeof(std::string_view text);

// Parses one `name:type` pair (the same name and type rules as ParseTypeof), as CSV headers carry
// them. Surrounding whitespace is allowed.
StatusOr<ColumnSpec> ParseColumnSpec(std::string_view text);

// A column name as typeof(...) writes it: bare when it is an identifier, else `['...']` with
// backslash escapes.
std::string FormatColumnName(std::string_view name);

// Column names in SBXT: 1..1024 bytes of UTF-8 without NUL. BAD_REQUEST otherwise.
Status CheckColumnName(std::string_view name);

// The concrete result columns: the input columns when `star`, then the named ones. A named column
// that repeats an input column (or another named one) is BAD_REQUEST, and so are more than
// kMaxSchemaColumns in all.
StatusOr<std::vector<ColumnSpec>> ResolveSchema(const OutputSchema& schema,
                                                const std::vector<ColumnSpec>& input_columns);

}  // namespace sandboxd

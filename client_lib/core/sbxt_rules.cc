#include "sbxt_rules.h"

#include "sandboxd/json_limits.h"

namespace sandboxd::sbxt {
namespace {

// Without CanonicalGuid's allocation: this runs once per cell of every table from a sandbox.
bool IsCanonicalGuid(std::string_view value) {
  if (value.size() != 36) return false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

}  // namespace

// Why a dynamic value is refused, or empty. The depth bound keeps every later reader of the cell
// (nlohmann's dump, Python's json, Kusto) from recursing once per level of a hostile value.
std::string CheckDynamicJson(std::string_view text) {
  switch (CheckJson(text)) {
    case JsonCheck::kValid:
      return {};
    case JsonCheck::kInvalid:
      return "dynamic value is not valid JSON";
    case JsonCheck::kTooDeep:
      return "dynamic value nests arrays and objects deeper than the limit of " +
             std::to_string(kMaxJsonDepth) + " levels";
  }
  return "dynamic value is not valid JSON";
}

// The checks a non-null variable-width value must pass, shared by builder and validator so that
// whatever the builder emits the validator accepts.
std::string CheckVariableValue(ColumnType type, std::string_view value) {
  switch (type) {
    case ColumnType::kString:
      if (!IsValidUtf8(value)) return "string is not valid UTF-8";
      return {};
    case ColumnType::kDecimal:
      if (value.size() > kMaxDecimalBytes) return "decimal text is longer than 64 bytes";
      if (!IsValidDecimalText(value))
        return "decimal text is not of the form -?digits[.digits][e[+-]digits], NaN or Infinity";
      return {};
    case ColumnType::kGuid:
      if (value.size() != 36) return "guid is not 36 bytes of canonical text";
      if (!IsCanonicalGuid(value)) return "guid is not in canonical lower-case form";
      return {};
    case ColumnType::kDynamic:
      if (!IsValidUtf8(value)) return "dynamic value is not valid UTF-8";
      return CheckDynamicJson(value);
    default:
      return "not a variable-width type";
  }
}

}  // namespace sandboxd::sbxt

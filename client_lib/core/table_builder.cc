// TableBuilder: a table collected cell by cell, laid out as SBXT by Finish().
#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <utility>

#include "sandboxd/json_limits.h"
#include "sandboxd/quote.h"
#include "sandboxd/table.h"
#include "sbxt_rules.h"

namespace sandboxd {
namespace {

using sbxt::AlignUp8;
using sbxt::AppendLe;
using sbxt::CheckDynamicJson;
using sbxt::CheckVariableValue;
using sbxt::IsVariable;
using sbxt::kDirectoryEntryBytes;
using sbxt::kHeaderBytes;
using sbxt::kMagic;
using sbxt::StoreLe;

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

std::string_view TrimAscii(std::string_view text) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

template <typename T>
bool ParseInteger(std::string_view text, T& out) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), out);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

bool ParseReal(std::string_view text, double& out) {
  if (EqualsIgnoreCase(text, "nan")) {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  bool negative = false;
  std::string_view magnitude = text;
  if (!magnitude.empty() && (magnitude.front() == '+' || magnitude.front() == '-')) {
    negative = magnitude.front() == '-';
    magnitude.remove_prefix(1);
  }
  if (EqualsIgnoreCase(magnitude, "infinity") || EqualsIgnoreCase(magnitude, "inf")) {
    out = negative ? -std::numeric_limits<double>::infinity()
                   : std::numeric_limits<double>::infinity();
    return true;
  }
  if (magnitude.empty() || magnitude.front() == '+' || magnitude.front() == '-') return false;
  // from_chars also accepts "nan(...)" and the like; only digits, '.', exponents pass here.
  for (char c : magnitude) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) {
      return false;
    }
  }
  double value = 0;
  const auto result = std::from_chars(magnitude.data(), magnitude.data() + magnitude.size(), value);
  if (result.ec != std::errc() || result.ptr != magnitude.data() + magnitude.size()) return false;
  out = negative ? -value : value;
  return true;
}

// Decimal text as people write it ("+1.5", ".5", "5.", "nan") into the strict SBXT form.
bool NormalizeDecimal(std::string_view text, std::string& out) {
  if (EqualsIgnoreCase(text, "nan")) {
    out = "NaN";
    return true;
  }
  if (EqualsIgnoreCase(text, "infinity") || EqualsIgnoreCase(text, "+infinity")) {
    out = "Infinity";
    return true;
  }
  if (EqualsIgnoreCase(text, "-infinity")) {
    out = "-Infinity";
    return true;
  }
  std::string value;
  if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
    if (text.front() == '-') value += '-';
    text.remove_prefix(1);
  }
  if (!text.empty() && text.front() == '.') value += '0';
  const std::size_t exponent = text.find_first_of("eE");
  std::string_view mantissa = text.substr(0, exponent);
  if (!mantissa.empty() && mantissa.back() == '.') mantissa.remove_suffix(1);
  value += mantissa;
  if (exponent != std::string_view::npos) value += text.substr(exponent);
  if (!IsValidDecimalText(value)) return false;
  out = std::move(value);
  return true;
}

}  // namespace

namespace {

struct BuilderColumn {
  ColumnSpec spec;
  std::uint64_t rows = 0;
  std::vector<std::uint8_t> validity;  // one bit per row, 1 = value
  bool has_null = false;
  std::string values;  // fixed-width values
  std::vector<std::uint64_t> offsets{0};
  std::string data;  // variable-width bytes

  void MarkRow(bool present) {
    if (validity.size() * 8 <= rows) validity.push_back(0);
    if (present) {
      validity[rows / 8] = static_cast<std::uint8_t>(validity[rows / 8] | (1U << (rows % 8)));
    } else {
      has_null = true;
    }
    ++rows;
  }
};

}  // namespace

struct TableBuilder::Impl {
  std::vector<BuilderColumn> columns;
  Status error;  // the first misuse, reported by Finish()

  void Fail(std::string message) {
    if (error.ok()) error = Status(ErrorCode::kBadRequest, std::move(message));
  }

  std::string Where(const BuilderColumn& column) const {
    return "column " + QuoteForMessage(column.spec.name) + " (" +
           std::string(ColumnTypeName(column.spec.type)) + ") row " + std::to_string(column.rows);
  }

  // The column to append to, or null after recording why not.
  BuilderColumn* Target(std::size_t index, bool (*accepts)(ColumnType), const char* what) {
    if (index >= columns.size()) {
      Fail("append to column index " + std::to_string(index) + ", but the table has " +
           std::to_string(columns.size()) + " columns");
      return nullptr;
    }
    BuilderColumn& column = columns[index];
    if (!accepts(column.spec.type)) {
      Fail(Where(column) + ": cannot append a " + what + " value to a " +
           std::string(ColumnTypeName(column.spec.type)) + " column");
      return nullptr;
    }
    return &column;
  }

  void AppendVariable(BuilderColumn& column, std::string_view value) {
    column.data.append(value);
    column.offsets.push_back(column.data.size());
    column.MarkRow(true);
  }
};

TableBuilder::TableBuilder(std::vector<ColumnSpec> columns) : impl_(std::make_unique<Impl>()) {
  std::unordered_set<std::string> names;
  for (ColumnSpec& spec : columns) {
    if (Status st = CheckColumnName(spec.name); !st.ok()) impl_->Fail(st.message());
    if (!names.insert(spec.name).second)
      impl_->Fail("two columns are named " + QuoteForMessage(spec.name));
    if (!IsValidColumnType(static_cast<std::uint8_t>(spec.type))) {
      impl_->Fail("column " + QuoteForMessage(spec.name) + " has an invalid type code");
    }
    BuilderColumn column;
    column.spec = std::move(spec);
    impl_->columns.push_back(std::move(column));
  }
}

TableBuilder::TableBuilder(TableBuilder&&) noexcept = default;
TableBuilder& TableBuilder::operator=(TableBuilder&&) noexcept = default;
TableBuilder::~TableBuilder() = default;

std::size_t TableBuilder::column_count() const { return impl_->columns.size(); }
const ColumnSpec& TableBuilder::column(std::size_t index) const {
  return impl_->columns.at(index).spec;
}
std::uint64_t TableBuilder::cell_count(std::size_t column) const {
  return impl_->columns.at(column).rows;
}

void TableBuilder::AppendNull(std::size_t index) {
  BuilderColumn* column = impl_->Target(
      index, [](ColumnType) { return true; }, "null");
  if (column == nullptr) return;
  if (IsVariable(column->spec.type)) {
    column->offsets.push_back(column->data.size());
  } else {
    column->values.append(FixedWidth(column->spec.type), '\0');
  }
  column->MarkRow(false);
}

void TableBuilder::AppendBool(std::size_t index, bool value) {
  BuilderColumn* column = impl_->Target(
      index, [](ColumnType t) { return t == ColumnType::kBool; }, "bool");
  if (column == nullptr) return;
  column->values.push_back(value ? '\1' : '\0');
  column->MarkRow(true);
}

void TableBuilder::AppendInt(std::size_t index, std::int32_t value) {
  BuilderColumn* column = impl_->Target(
      index, [](ColumnType t) { return t == ColumnType::kInt; }, "int");
  if (column == nullptr) return;
  AppendLe(column->values, value);
  column->MarkRow(true);
}

void TableBuilder::AppendLong(std::size_t index, std::int64_t value) {
  BuilderColumn* column = impl_->Target(
      index, [](ColumnType t) { return t == ColumnType::kLong; }, "long");
  if (column == nullptr) return;
  AppendLe(column->values, value);
  column->MarkRow(true);
}

void TableBuilder::AppendReal(std::size_t index, double value) {
  BuilderColumn* column = impl_->Target(
      index, [](ColumnType t) { return t == ColumnType::kReal; }, "real");
  if (column == nullptr) return;
  AppendLe(column->values, std::bit_cast<std::uint64_t>(value));
  column->MarkRow(true);
}

void TableBuilder::AppendTicks(std::size_t index, std::int64_t ticks) {
  BuilderColumn* column = impl_->Target(
      index, [](ColumnType t) { return t == ColumnType::kDateTime || t == ColumnType::kTimeSpan; },
      "ticks (datetime or timespan)");
  if (column == nullptr) return;
  if (column->spec.type == ColumnType::kDateTime &&
      (ticks < kMinDateTimeTicks || ticks > kMaxDateTimeTicks)) {
    impl_->Fail(impl_->Where(*column) + ": " + std::to_string(ticks) +
                " ticks is outside Kusto's datetime range 0001-01-01 .. 9999-12-31");
  }
  AppendLe(column->values, ticks);
  column->MarkRow(true);
}

void TableBuilder::AppendText(std::size_t index, std::string_view text) {
  BuilderColumn* column = impl_->Target(index, IsVariable, "text");
  if (column == nullptr) return;
  if (column->spec.type == ColumnType::kGuid) {
    auto canonical = CanonicalGuid(text);
    if (!canonical.ok()) {
      impl_->Fail(impl_->Where(*column) + ": " + canonical.status().message());
      impl_->AppendVariable(*column, text);
      return;
    }
    impl_->AppendVariable(*column, *canonical);
    return;
  }
  if (std::string why = CheckVariableValue(column->spec.type, text); !why.empty()) {
    impl_->Fail(impl_->Where(*column) + ": " + why);
  }
  impl_->AppendVariable(*column, text);
}

Status TableBuilder::AppendParsed(std::size_t index, std::string_view text) {
  if (index >= impl_->columns.size()) {
    return Status(ErrorCode::kBadRequest, "column index " + std::to_string(index) +
                                              " is past the table's " +
                                              std::to_string(impl_->columns.size()) + " columns");
  }
  const ColumnSpec& spec = impl_->columns[index].spec;
  auto invalid = [&](std::string_view why) {
    std::string message = impl_->Where(impl_->columns[index]) + ": " + QuoteForMessage(text) +
                          " is not a valid " + std::string(ColumnTypeName(spec.type));
    if (!why.empty()) {
      message += " (";
      message += why;
      message += ')';
    }
    return Status(ErrorCode::kBadRequest, std::move(message));
  };

  if (spec.type == ColumnType::kString) {
    if (!IsValidUtf8(text)) return invalid("not UTF-8");
    AppendText(index, text);
    return Status::Ok();
  }
  const std::string_view cell = TrimAscii(text);
  if (cell.empty()) {
    AppendNull(index);
    return Status::Ok();
  }
  switch (spec.type) {
    case ColumnType::kBool:
      if (EqualsIgnoreCase(cell, "true") || cell == "1") {
        AppendBool(index, true);
      } else if (EqualsIgnoreCase(cell, "false") || cell == "0") {
        AppendBool(index, false);
      } else {
        return invalid("expected true, false, 1 or 0");
      }
      return Status::Ok();
    case ColumnType::kInt: {
      std::int32_t value = 0;
      if (!ParseInteger(cell, value))
        return invalid("expected an integer in -2147483648..2147483647");
      AppendInt(index, value);
      return Status::Ok();
    }
    case ColumnType::kLong: {
      std::int64_t value = 0;
      if (!ParseInteger(cell, value)) {
        return invalid("expected an integer in -9223372036854775808..9223372036854775807");
      }
      AppendLong(index, value);
      return Status::Ok();
    }
    case ColumnType::kReal: {
      double value = 0;
      if (!ParseReal(cell, value)) return invalid("expected a number, NaN or Infinity");
      AppendReal(index, value);
      return Status::Ok();
    }
    case ColumnType::kDecimal: {
      std::string value;
      if (!NormalizeDecimal(cell, value)) return invalid("expected -?digits[.digits][e[+-]digits]");
      AppendText(index, value);
      return Status::Ok();
    }
    case ColumnType::kDateTime: {
      auto ticks = ParseDateTime(cell);
      if (!ticks.ok()) return invalid(ticks.status().message());
      AppendTicks(index, *ticks);
      return Status::Ok();
    }
    case ColumnType::kTimeSpan: {
      auto ticks = ParseTimeSpan(cell);
      if (!ticks.ok()) return invalid(ticks.status().message());
      AppendTicks(index, *ticks);
      return Status::Ok();
    }
    case ColumnType::kGuid: {
      auto guid = CanonicalGuid(cell);
      if (!guid.ok()) return invalid("expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
      AppendText(index, *guid);
      return Status::Ok();
    }
    case ColumnType::kDynamic:
      if (!IsValidUtf8(cell)) return invalid("not valid JSON");
      if (std::string why = CheckDynamicJson(cell); !why.empty()) return invalid(why);
      AppendText(index, cell);
      return Status::Ok();
    case ColumnType::kString:
      break;
  }
  return invalid("unknown type");
}

StatusOr<std::string> TableBuilder::Finish() {
  if (!impl_->error.ok()) return impl_->error;
  const std::vector<BuilderColumn>& columns = impl_->columns;
  if (columns.size() > std::numeric_limits<std::uint32_t>::max()) {
    return Status(ErrorCode::kBadRequest, "too many columns");
  }
  const std::uint64_t rows = columns.empty() ? 0 : columns.front().rows;
  for (const BuilderColumn& column : columns) {
    if (column.rows != rows) {
      return Status(ErrorCode::kBadRequest, "column " + QuoteForMessage(column.spec.name) +
                                                " has " + std::to_string(column.rows) +
                                                " cells but column " +
                                                QuoteForMessage(columns.front().spec.name) +
                                                " has " + std::to_string(rows));
    }
  }

  struct Layout {
    std::uint64_t name = 0, validity = 0, validity_length = 0, values = 0, values_length = 0,
                  data = 0, data_length = 0;
  };
  std::vector<Layout> layout(columns.size());
  std::uint64_t end = kHeaderBytes + kDirectoryEntryBytes * columns.size();
  auto place = [&end](std::uint64_t length) {
    const std::uint64_t at = AlignUp8(end);
    end = at + length;
    return at;
  };
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const BuilderColumn& column = columns[i];
    Layout& l = layout[i];
    l.name = place(column.spec.name.size());
    if (column.has_null) {
      l.validity_length = (rows + 7) / 8;
      l.validity = place(l.validity_length);
    }
    if (IsVariable(column.spec.type)) {
      l.values_length = (rows + 1) * 8;
      l.values = place(l.values_length);
      l.data_length = column.data.size();
      l.data = place(l.data_length);
    } else {
      l.values_length = column.values.size();
      l.values = place(l.values_length);
    }
  }
  const std::uint64_t total = AlignUp8(end);

  std::string out(total, '\0');
  std::memcpy(out.data(), kMagic, sizeof(kMagic));
  StoreLe<std::uint64_t>(out.data() + 8, rows);
  StoreLe<std::uint32_t>(out.data() + 16, static_cast<std::uint32_t>(columns.size()));
  StoreLe<std::uint64_t>(out.data() + 24, total);
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const BuilderColumn& column = columns[i];
    const Layout& l = layout[i];
    char* entry = out.data() + kHeaderBytes + kDirectoryEntryBytes * i;
    StoreLe<std::uint64_t>(entry + 0, l.name);
    StoreLe<std::uint32_t>(entry + 8, static_cast<std::uint32_t>(column.spec.name.size()));
    entry[12] = static_cast<char>(column.spec.type);
    StoreLe<std::uint64_t>(entry + 16, l.validity);
    StoreLe<std::uint64_t>(entry + 24, l.validity_length);
    StoreLe<std::uint64_t>(entry + 32, l.values);
    StoreLe<std::uint64_t>(entry + 40, l.values_length);
    StoreLe<std::uint64_t>(entry + 48, l.data);
    StoreLe<std::uint64_t>(entry + 56, l.data_length);

    std::memcpy(out.data() + l.name, column.spec.name.data(), column.spec.name.size());
    if (l.validity_length != 0) {
      std::memcpy(out.data() + l.validity, column.validity.data(), l.validity_length);
    }
    if (IsVariable(column.spec.type)) {
      char* offsets = out.data() + l.values;
      for (std::uint64_t r = 0; r <= rows; ++r)
        StoreLe<std::uint64_t>(offsets + 8 * r, column.offsets[r]);
      if (!column.data.empty()) std::memcpy(out.data() + l.data, column.data.data(), l.data_length);
    } else if (!column.values.empty()) {
      std::memcpy(out.data() + l.values, column.values.data(), l.values_length);
    }
  }
  return out;
}

StatusOr<Table> TableBuilder::FinishTable(const TableLimits& limits) {
  auto buffer = Finish();
  if (!buffer.ok()) return buffer.status();
  return Table::FromBuffer(std::move(buffer.value()), limits);
}

}  // namespace sandboxd

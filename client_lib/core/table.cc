#include "sandboxd/table.h"

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

namespace sandboxd {
namespace {

constexpr char kMagic[8] = {'S', 'B', 'X', 'T', 'B', 'L', '0', '1'};
constexpr std::uint64_t kHeaderBytes = 32;
constexpr std::uint64_t kDirectoryEntryBytes = 64;
constexpr std::uint64_t kMaxNameBytes = 1024;
constexpr std::uint64_t kMaxDecimalBytes = 64;

// SBXT is little-endian whatever the host; these keep the code honest on a big-endian host.
template <typename T>
T LoadLe(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) {
    T swapped = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      swapped = static_cast<T>((swapped << 8) | ((value >> (8 * i)) & 0xFF));
    }
    value = swapped;
  }
  return value;
}

template <typename T>
void StoreLe(char* p, T value) {
  if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) {
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      p[i] = static_cast<char>((static_cast<std::uint64_t>(value) >> (8 * i)) & 0xFF);
    }
  } else {
    std::memcpy(p, &value, sizeof(T));
  }
}

template <typename T>
void AppendLe(std::string& out, T value) {
  char bytes[sizeof(T)];
  StoreLe(bytes, value);
  out.append(bytes, sizeof(T));
}

std::uint64_t AlignUp8(std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; }

bool IsVariable(ColumnType type) { return FixedWidth(type) == 0; }

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

std::string FormatReal(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  char buffer[64];
  // Shortest text that reads back to the same double.
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
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

// ---------------------------------------------------------------------------------------------
// TableBuilder

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

// ---------------------------------------------------------------------------------------------
// Validation

namespace {

// One column's directory entry once its O(1) checks passed: its type and where its bytes are.
struct DirectoryEntry {
  std::string where;  // "column 3 ('x') [long]", the prefix of every message about it
  ColumnSpec spec;
  std::uint64_t name_offset = 0, name_length = 0;
  std::uint64_t validity_offset = 0, validity_length = 0;
  std::uint64_t values_offset = 0, values_length = 0;
  std::uint64_t data_offset = 0, data_length = 0;
};

// Reads a validated-or-to-be-validated buffer; every method checks before it reads. It works in
// three passes so that its cost is O(buffer size) whatever the buffer claims: first the directory
// alone (O(columns)), then the expected schema and the rule that no two regions share a byte
// (O(columns log columns)), and only then the values, each byte of which is scanned at most once
// because the regions are disjoint. Without the second rule, 1000 columns pointing at one 30 MB
// region made a 31 MB buffer cost a minute to check.
class Validator {
 public:
  Validator(std::span<const std::byte> buffer, const TableLimits& limits,
            const TableView::OpenOptions& options)
      : buffer_(buffer), size_(buffer.size()), limits_(limits), options_(options) {}

  Status Run(std::uint64_t& rows_out, std::vector<DirectoryEntry>& entries);

 private:
  static Status Fail(std::string message) {
    return Status(ErrorCode::kBadRequest, "invalid table: " + std::move(message));
  }

  // [offset, offset+length) is 8-aligned, inside the buffer, and clear of header and directory.
  Status CheckRegion(const std::string& where, const char* region, std::uint64_t offset,
                     std::uint64_t length) const {
    const std::string describe = std::string(region) + " region (offset " + std::to_string(offset) +
                                 ", length " + std::to_string(length) + ")";
    if (offset % 8 != 0)
      return Fail(where + ": " + describe + " does not start at a multiple of 8");
    if (offset > size_ || length > size_ - offset) {
      return Fail(where + ": " + describe + " runs past the end of the " + std::to_string(size_) +
                  "-byte buffer");
    }
    if (length != 0 && offset < directory_end_) {
      return Fail(where + ": " + describe +
                  " overlaps the header or column directory (which end at " +
                  std::to_string(directory_end_) + ")");
    }
    return Status::Ok();
  }

  Status ReadEntry(std::size_t index, std::uint64_t rows,
                   std::unordered_set<std::string_view>& names, DirectoryEntry& out) const;
  Status CheckExpectedColumns(const std::vector<DirectoryEntry>& entries) const;
  static Status CheckDisjoint(const std::vector<DirectoryEntry>& entries);
  Status ScanColumn(const DirectoryEntry& entry, std::uint64_t rows) const;

  // The caller stopped waiting (its deadline passed): checked every few thousand cells, so that
  // giving up costs at most a moment of work.
  bool Cancelled() const {
    return options_.cancel != nullptr && options_.cancel->load(std::memory_order_relaxed);
  }
  static Status CancelledStatus() {
    return Status(ErrorCode::kTimeout, "table validation was cancelled before it finished");
  }

  const std::byte* At(std::uint64_t offset) const { return buffer_.data() + offset; }

  std::span<const std::byte> buffer_;
  std::uint64_t size_;
  const TableLimits& limits_;
  const TableView::OpenOptions& options_;
  std::uint64_t directory_end_ = 0;
};

Status Validator::Run(std::uint64_t& rows_out, std::vector<DirectoryEntry>& entries) {
  if (size_ < kHeaderBytes) {
    return Fail("buffer of " + std::to_string(size_) + " bytes is shorter than the 32-byte header");
  }
  if (size_ > limits_.max_bytes) {
    return Fail("buffer of " + std::to_string(size_) + " bytes is over the limit of " +
                std::to_string(limits_.max_bytes) + " bytes");
  }
  if (std::memcmp(buffer_.data(), kMagic, sizeof(kMagic)) != 0) {
    return Fail("header: magic is not SBXTBL01");
  }
  const auto rows = LoadLe<std::uint64_t>(At(8));
  const auto column_count = LoadLe<std::uint32_t>(At(16));
  const auto reserved = LoadLe<std::uint32_t>(At(20));
  const auto total = LoadLe<std::uint64_t>(At(24));
  if (reserved != 0) return Fail("header: reserved field is not 0");
  if (total != size_) {
    return Fail("header: total size field says " + std::to_string(total) +
                " bytes but the buffer has " + std::to_string(size_));
  }
  if (rows > limits_.max_rows) {
    return Fail("header: row count " + std::to_string(rows) + " is over the limit of " +
                std::to_string(limits_.max_rows));
  }
  if (column_count > limits_.max_columns) {
    return Fail("header: column count " + std::to_string(column_count) + " is over the limit of " +
                std::to_string(limits_.max_columns));
  }
  // column_count < 2^32, so this cannot overflow a u64.
  directory_end_ = kHeaderBytes + kDirectoryEntryBytes * std::uint64_t{column_count};
  if (directory_end_ > size_) {
    return Fail("column directory of " + std::to_string(column_count) +
                " entries runs past the end of the " + std::to_string(size_) + "-byte buffer");
  }
  entries.assign(column_count, DirectoryEntry{});
  std::unordered_set<std::string_view> names;
  for (std::uint32_t i = 0; i < column_count; ++i) {
    if (Status st = ReadEntry(i, rows, names, entries[i]); !st.ok()) return st;
  }
  if (Status st = CheckExpectedColumns(entries); !st.ok()) return st;
  if (Status st = CheckDisjoint(entries); !st.ok()) return st;
  for (const DirectoryEntry& entry : entries) {
    if (Cancelled()) return CancelledStatus();
    if (Status st = ScanColumn(entry, rows); !st.ok()) return st;
  }
  rows_out = rows;
  return Status::Ok();
}

Status Validator::ReadEntry(std::size_t index, std::uint64_t rows,
                            std::unordered_set<std::string_view>& names,
                            DirectoryEntry& out) const {
  const std::byte* entry = At(kHeaderBytes + kDirectoryEntryBytes * index);
  const auto name_offset = LoadLe<std::uint64_t>(entry + 0);
  const auto name_length = LoadLe<std::uint32_t>(entry + 8);
  const auto type_code = LoadLe<std::uint8_t>(entry + 12);
  const bool reserved_zero =
      entry[13] == std::byte{0} && entry[14] == std::byte{0} && entry[15] == std::byte{0};
  out.name_offset = name_offset;
  out.name_length = name_length;
  out.validity_offset = LoadLe<std::uint64_t>(entry + 16);
  out.validity_length = LoadLe<std::uint64_t>(entry + 24);
  out.values_offset = LoadLe<std::uint64_t>(entry + 32);
  out.values_length = LoadLe<std::uint64_t>(entry + 40);
  out.data_offset = LoadLe<std::uint64_t>(entry + 48);
  out.data_length = LoadLe<std::uint64_t>(entry + 56);

  std::string where = "column " + std::to_string(index);
  if (name_length == 0 || name_length > kMaxNameBytes) {
    return Fail(where + ": name length " + std::to_string(name_length) + " is not in 1..1024");
  }
  if (Status st = CheckRegion(where, "name", name_offset, name_length); !st.ok()) return st;
  const std::string_view name(reinterpret_cast<const char*>(At(name_offset)), name_length);
  if (name.find('\0') != std::string_view::npos) return Fail(where + ": name contains NUL");
  if (!IsValidUtf8(name)) return Fail(where + ": name is not valid UTF-8");
  where += " (" + QuoteForMessage(name) + ")";
  if (!names.insert(name).second) return Fail(where + ": duplicate column name");
  if (!reserved_zero) return Fail(where + ": reserved bytes of the directory entry are not 0");
  if (!IsValidColumnType(type_code)) {
    return Fail(where + ": unknown type code " + std::to_string(type_code));
  }
  const auto type = static_cast<ColumnType>(type_code);
  where += " [" + std::string(ColumnTypeName(type)) + "]";
  out.spec.name = std::string(name);
  out.spec.type = type;

  const std::uint64_t bitmap_bytes = rows / 8 + (rows % 8 != 0 ? 1 : 0);
  if (out.validity_length != 0 && out.validity_length != bitmap_bytes) {
    return Fail(where + ": validity length " + std::to_string(out.validity_length) +
                " is neither 0 nor ceil(row_count/8) = " + std::to_string(bitmap_bytes));
  }
  if (Status st = CheckRegion(where, "validity", out.validity_offset, out.validity_length);
      !st.ok()) {
    return st;
  }
  const std::size_t width = FixedWidth(type);
  std::uint64_t expected_values = 0;
  const bool overflow =
      width != 0 ? __builtin_mul_overflow(rows, std::uint64_t{width}, &expected_values)
                 : (rows == std::numeric_limits<std::uint64_t>::max() ||
                    __builtin_mul_overflow(rows + 1, std::uint64_t{8}, &expected_values));
  if (overflow || out.values_length != expected_values) {
    return Fail(
        where + ": values length " + std::to_string(out.values_length) + " is not " +
        (width != 0 ? "row_count * " + std::to_string(width) : std::string("(row_count + 1) * 8")) +
        (overflow ? " (which overflows)" : " = " + std::to_string(expected_values)));
  }
  if (Status st = CheckRegion(where, "values", out.values_offset, out.values_length); !st.ok())
    return st;
  if (width != 0) {
    if (out.data_offset != 0 || out.data_length != 0) {
      return Fail(where + ": a fixed-width column must have data offset 0 and length 0");
    }
  } else if (Status st = CheckRegion(where, "data", out.data_offset, out.data_length); !st.ok()) {
    return st;
  }
  out.where = std::move(where);
  return Status::Ok();
}

// Before any value is read: a table of the wrong shape is refused for the price of its directory.
Status Validator::CheckExpectedColumns(const std::vector<DirectoryEntry>& entries) const {
  if (options_.expected_columns == nullptr) return Status::Ok();
  const std::vector<ColumnSpec>& want = *options_.expected_columns;
  if (entries.size() != want.size()) {
    return Status(ErrorCode::kSchemaMismatch, "the table has " + std::to_string(entries.size()) +
                                                  " columns; the expected schema has " +
                                                  std::to_string(want.size()));
  }
  for (std::size_t i = 0; i < want.size(); ++i) {
    const ColumnSpec& got = entries[i].spec;
    if (got != want[i]) {
      return Status(
          ErrorCode::kSchemaMismatch,
          "column " + std::to_string(i + 1) + " of " + std::to_string(want.size()) + " is " +
              QuoteForMessage(got.name + ":" + std::string(ColumnTypeName(got.type))) +
              ", expected " +
              QuoteForMessage(want[i].name + ":" + std::string(ColumnTypeName(want[i].type))));
    }
  }
  return Status::Ok();
}

// No byte belongs to two regions (names included), so that the values pass reads each byte of
// the buffer at most once.
Status Validator::CheckDisjoint(const std::vector<DirectoryEntry>& entries) {
  struct Region {
    std::uint64_t offset, length;
    std::size_t column;
    const char* what;
  };
  std::vector<Region> regions;
  regions.reserve(entries.size() * 4);
  for (std::size_t c = 0; c < entries.size(); ++c) {
    const DirectoryEntry& e = entries[c];
    auto add = [&](std::uint64_t offset, std::uint64_t length, const char* what) {
      if (length != 0) regions.push_back({offset, length, c, what});
    };
    add(e.name_offset, e.name_length, "name");
    add(e.validity_offset, e.validity_length, "validity");
    add(e.values_offset, e.values_length, "values");
    add(e.data_offset, e.data_length, "data");
  }
  std::sort(regions.begin(), regions.end(),
            [](const Region& a, const Region& b) { return a.offset < b.offset; });
  for (std::size_t i = 1; i < regions.size(); ++i) {
    const Region& before = regions[i - 1];
    const Region& after = regions[i];
    // Both lie inside the buffer (CheckRegion), so the sum cannot overflow.
    if (after.offset < before.offset + before.length) {
      auto describe = [&](const Region& r) {
        return entries[r.column].where + " " + r.what + " region (offset " +
               std::to_string(r.offset) + ", length " + std::to_string(r.length) + ")";
      };
      return Fail(describe(after) + " overlaps " + describe(before) +
                  "; regions must not share bytes");
    }
  }
  return Status::Ok();
}

Status Validator::ScanColumn(const DirectoryEntry& entry, std::uint64_t rows) const {
  const std::string& where = entry.where;
  const ColumnType type = entry.spec.type;
  const std::uint64_t bitmap_bytes = rows / 8 + (rows % 8 != 0 ? 1 : 0);
  const std::byte* validity = entry.validity_length != 0 ? At(entry.validity_offset) : nullptr;
  if (validity != nullptr && rows % 8 != 0) {
    const auto last = std::to_integer<unsigned>(validity[bitmap_bytes - 1]);
    if ((last >> (rows % 8)) != 0) {
      return Fail(where + ": validity bits past row_count are not 0");
    }
  }
  auto present = [validity](std::uint64_t row) {
    return validity == nullptr ||
           ((std::to_integer<unsigned>(validity[row / 8]) >> (row % 8)) & 1U) != 0;
  };
  constexpr std::uint64_t kPollRows = 4096;
  const std::byte* values = At(entry.values_offset);
  const std::size_t width = FixedWidth(type);

  if (width != 0) {
    for (std::uint64_t r = 0; r < rows; ++r) {
      if (r % kPollRows == 0 && Cancelled()) return CancelledStatus();
      const std::byte* slot = values + r * width;
      if (!present(r)) {
        for (std::size_t b = 0; b < width; ++b) {
          if (slot[b] != std::byte{0}) {
            return Fail(where + ": row " + std::to_string(r) +
                        " is null but its value slot is not zero");
          }
        }
        continue;
      }
      if (type == ColumnType::kBool && std::to_integer<unsigned>(slot[0]) > 1) {
        return Fail(where + ": row " + std::to_string(r) + " holds a bool that is neither 0 nor 1");
      }
      if (type == ColumnType::kDateTime) {
        const auto ticks = LoadLe<std::int64_t>(slot);
        if (ticks < kMinDateTimeTicks || ticks > kMaxDateTimeTicks) {
          return Fail(where + ": row " + std::to_string(r) +
                      " holds a datetime outside 0001-01-01 .. 9999-12-31");
        }
      }
    }
    return Status::Ok();
  }

  const std::uint64_t data_length = entry.data_length;
  const char* data = reinterpret_cast<const char*>(At(entry.data_offset));
  std::uint64_t previous = LoadLe<std::uint64_t>(values);
  if (previous != 0) return Fail(where + ": offsets[0] is " + std::to_string(previous) + ", not 0");
  // Cells of one column follow each other (offsets never decrease), so this loop reads each data
  // byte once; polling by bytes as well as rows keeps a few huge cells from outrunning a cancel.
  std::uint64_t bytes_since_poll = 0;
  for (std::uint64_t r = 0; r < rows; ++r) {
    if (r % kPollRows == 0 || bytes_since_poll > (1U << 20)) {
      if (Cancelled()) return CancelledStatus();
      bytes_since_poll = 0;
    }
    const auto next = LoadLe<std::uint64_t>(values + 8 * (r + 1));
    if (next < previous) {
      return Fail(where + ": offsets decrease at row " + std::to_string(r) + " (" +
                  std::to_string(previous) + " then " + std::to_string(next) + ")");
    }
    if (next > data_length) {
      return Fail(where + ": offset " + std::to_string(next) + " of row " + std::to_string(r) +
                  " is past the data length " + std::to_string(data_length));
    }
    const std::uint64_t length = next - previous;
    bytes_since_poll += length;
    if (!present(r)) {
      if (length != 0) {
        return Fail(where + ": row " + std::to_string(r) + " is null but its value is not empty");
      }
    } else {
      if (length > limits_.max_cell_bytes) {
        return Fail(where + ": row " + std::to_string(r) + " holds " + std::to_string(length) +
                    " bytes, over the cell limit of " + std::to_string(limits_.max_cell_bytes));
      }
      const std::string_view value(data + previous, length);
      if (std::string why = CheckVariableValue(type, value); !why.empty()) {
        return Fail(where + ": row " + std::to_string(r) + ": " + why);
      }
    }
    previous = next;
  }
  if (previous != data_length) {
    return Fail(where + ": offsets[row_count] is " + std::to_string(previous) +
                " but the data length is " + std::to_string(data_length));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<TableView> TableView::Open(std::span<const std::byte> buffer, const TableLimits& limits) {
  return Open(buffer, limits, OpenOptions{});
}

StatusOr<TableView> TableView::Open(std::span<const std::byte> buffer, const TableLimits& limits,
                                    const OpenOptions& options) {
  std::uint64_t rows = 0;
  std::vector<DirectoryEntry> entries;
  Validator validator(buffer, limits, options);
  if (Status st = validator.Run(rows, entries); !st.ok()) return st;
  TableView view;
  view.buffer_ = buffer;
  view.rows_ = rows;
  view.columns_.resize(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    Column& column = view.columns_[i];
    DirectoryEntry& entry = entries[i];
    column.spec = std::move(entry.spec);
    column.validity = entry.validity_length != 0 ? buffer.data() + entry.validity_offset : nullptr;
    column.values = buffer.data() + entry.values_offset;
    column.data = IsVariable(column.spec.type) ? buffer.data() + entry.data_offset : nullptr;
  }
  return view;
}

Status ValidateTable(std::span<const std::byte> buffer, const TableLimits& limits) {
  return TableView::Open(buffer, limits).status();
}

TableView TableView::Rebased(std::span<const std::byte> buffer) const {
  TableView view;
  view.buffer_ = buffer;
  view.rows_ = rows_;
  view.columns_ = columns_;
  const std::byte* old_base = buffer_.data();
  auto shift = [&](const std::byte* p) -> const std::byte* {
    return p == nullptr ? nullptr : buffer.data() + (p - old_base);
  };
  for (Column& column : view.columns_) {
    column.validity = shift(column.validity);
    column.values = shift(column.values);
    column.data = shift(column.data);
  }
  return view;
}

std::vector<ColumnSpec> TableView::columns() const {
  std::vector<ColumnSpec> out;
  out.reserve(columns_.size());
  for (const Column& column : columns_) out.push_back(column.spec);
  return out;
}

bool TableView::IsNull(std::size_t column, std::uint64_t row) const {
  if (column >= columns_.size() || row >= rows_) return true;
  const std::byte* validity = columns_[column].validity;
  if (validity == nullptr) return false;
  return ((std::to_integer<unsigned>(validity[row / 8]) >> (row % 8)) & 1U) == 0;
}

// The getters read whatever the slot holds; a null reads as zero or empty, because Open() checked
// that null slots are zeroed. A wrong type or index reads as zero rather than out of bounds.
bool TableView::GetBool(std::size_t column, std::uint64_t row) const {
  if (column >= columns_.size() || row >= rows_ ||
      columns_[column].spec.type != ColumnType::kBool) {
    return false;
  }
  return columns_[column].values[row] != std::byte{0};
}

std::int32_t TableView::GetInt(std::size_t column, std::uint64_t row) const {
  if (column >= columns_.size() || row >= rows_ || columns_[column].spec.type != ColumnType::kInt) {
    return 0;
  }
  return LoadLe<std::int32_t>(columns_[column].values + row * 4);
}

std::int64_t TableView::GetLong(std::size_t column, std::uint64_t row) const {
  if (column >= columns_.size() || row >= rows_ ||
      columns_[column].spec.type != ColumnType::kLong) {
    return 0;
  }
  return LoadLe<std::int64_t>(columns_[column].values + row * 8);
}

double TableView::GetReal(std::size_t column, std::uint64_t row) const {
  if (column >= columns_.size() || row >= rows_ ||
      columns_[column].spec.type != ColumnType::kReal) {
    return 0;
  }
  return std::bit_cast<double>(LoadLe<std::uint64_t>(columns_[column].values + row * 8));
}

std::int64_t TableView::GetTicks(std::size_t column, std::uint64_t row) const {
  if (column >= columns_.size() || row >= rows_) return 0;
  const ColumnType type = columns_[column].spec.type;
  if (type != ColumnType::kDateTime && type != ColumnType::kTimeSpan) return 0;
  return LoadLe<std::int64_t>(columns_[column].values + row * 8);
}

std::string_view TableView::GetText(std::size_t column, std::uint64_t row) const {
  if (column >= columns_.size() || row >= rows_ || !IsVariable(columns_[column].spec.type)) {
    return {};
  }
  const Column& c = columns_[column];
  const auto begin = LoadLe<std::uint64_t>(c.values + row * 8);
  const auto end = LoadLe<std::uint64_t>(c.values + (row + 1) * 8);
  return {reinterpret_cast<const char*>(c.data) + begin, end - begin};
}

std::string TableView::FormatCell(std::size_t column, std::uint64_t row) const {
  if (IsNull(column, row)) return {};
  switch (columns_[column].spec.type) {
    case ColumnType::kBool:
      return GetBool(column, row) ? "true" : "false";
    case ColumnType::kInt:
      return std::to_string(GetInt(column, row));
    case ColumnType::kLong:
      return std::to_string(GetLong(column, row));
    case ColumnType::kReal:
      return FormatReal(GetReal(column, row));
    case ColumnType::kDateTime:
      return FormatDateTime(GetTicks(column, row));
    case ColumnType::kTimeSpan:
      return FormatTimeSpan(GetTicks(column, row));
    case ColumnType::kDecimal:
    case ColumnType::kString:
    case ColumnType::kGuid:
    case ColumnType::kDynamic:
      return std::string(GetText(column, row));
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// Table

namespace {

std::string EmptyTableBuffer() {
  std::string out(kHeaderBytes, '\0');
  std::memcpy(out.data(), kMagic, sizeof(kMagic));
  StoreLe<std::uint64_t>(out.data() + 24, kHeaderBytes);
  return out;
}

std::span<const std::byte> AsBytes(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

}  // namespace

Table::Table() : buffer_(EmptyTableBuffer()) {
  // Cannot fail: the empty table is valid under any limits.
  view_ = TableView::Open(AsBytes(buffer_), TableLimits{}).value();
}

StatusOr<Table> Table::FromBuffer(std::string buffer, const TableLimits& limits) {
  Table table;
  table.buffer_ = std::move(buffer);
  auto view = TableView::Open(AsBytes(table.buffer_), limits);
  if (!view.ok()) return view.status();
  table.view_ = std::move(view.value());
  return table;
}

Table::Table(Table&& other) noexcept : buffer_(std::move(other.buffer_)) {
  // A moved std::string may or may not keep its bytes where they were; rebind to be sure.
  view_ = other.view_.Rebased(AsBytes(buffer_));
  other.buffer_.clear();
  other.view_ = TableView();
}

Table& Table::operator=(Table&& other) noexcept {
  if (this != &other) {
    buffer_ = std::move(other.buffer_);
    view_ = other.view_.Rebased(AsBytes(buffer_));
    other.buffer_.clear();
    other.view_ = TableView();
  }
  return *this;
}

StatusOr<Table> ConcatTables(std::span<const Table> tables, const TableLimits& limits) {
  if (tables.empty()) return Table();
  const std::vector<ColumnSpec> columns = tables.front().columns();
  for (std::size_t t = 1; t < tables.size(); ++t) {
    const std::vector<ColumnSpec> other = tables[t].columns();
    if (other.size() != columns.size()) {
      return Status(ErrorCode::kBadRequest,
                    "table " + std::to_string(t) + " has " + std::to_string(other.size()) +
                        " columns but table 0 has " + std::to_string(columns.size()));
    }
    for (std::size_t c = 0; c < columns.size(); ++c) {
      if (!(other[c] == columns[c])) {
        return Status(ErrorCode::kBadRequest,
                      "table " + std::to_string(t) + " column " + std::to_string(c) + " is " +
                          QuoteForMessage(other[c].name) + " (" +
                          std::string(ColumnTypeName(other[c].type)) + ") but table 0 has " +
                          QuoteForMessage(columns[c].name) + " (" +
                          std::string(ColumnTypeName(columns[c].type)) + ")");
      }
    }
  }
  TableBuilder builder(columns);
  for (const Table& table : tables) {
    const TableView& view = table.view();
    for (std::size_t c = 0; c < columns.size(); ++c) {
      for (std::uint64_t r = 0; r < view.row_count(); ++r) {
        if (view.IsNull(c, r)) {
          builder.AppendNull(c);
          continue;
        }
        switch (columns[c].type) {
          case ColumnType::kBool:
            builder.AppendBool(c, view.GetBool(c, r));
            break;
          case ColumnType::kInt:
            builder.AppendInt(c, view.GetInt(c, r));
            break;
          case ColumnType::kLong:
            builder.AppendLong(c, view.GetLong(c, r));
            break;
          case ColumnType::kReal:
            builder.AppendReal(c, view.GetReal(c, r));
            break;
          case ColumnType::kDateTime:
          case ColumnType::kTimeSpan:
            builder.AppendTicks(c, view.GetTicks(c, r));
            break;
          case ColumnType::kDecimal:
          case ColumnType::kString:
          case ColumnType::kGuid:
          case ColumnType::kDynamic:
            builder.AppendText(c, view.GetText(c, r));
            break;
        }
      }
    }
  }
  return builder.FinishTable(limits);
}

}  // namespace sandboxd

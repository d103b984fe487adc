// TableView's reads of a validated buffer and Table, the owning form.
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
#include "sbxt_rules.h"

namespace sandboxd {
namespace {

using sbxt::IsVariable;
using sbxt::kHeaderBytes;
using sbxt::kMagic;
using sbxt::LoadLe;
using sbxt::StoreLe;

std::string FormatReal(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  char buffer[64];
  // Shortest text that reads back to the same double.
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

}  // namespace

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

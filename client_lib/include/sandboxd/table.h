// Tables in the SBXT columnar layout (proto/TABLE_FORMAT.md): a builder, a validating zero-copy
// view, and an owning Table. The same validator guards client input and sandbox output.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sandboxd/schema.h"
#include "sandboxd/status.h"
#include "sandboxd/types.h"

namespace sandboxd {

struct TableLimits {
  std::uint64_t max_bytes = 1ULL << 32;
  std::uint64_t max_rows = 1ULL << 31;
  std::uint32_t max_columns = 10000;
  std::uint64_t max_cell_bytes = 64ULL << 20;
};

class Table;

// Collects a table column by column (or row by row); Finish() lays out the SBXT buffer.
class TableBuilder {
 public:
  explicit TableBuilder(std::vector<ColumnSpec> columns);
  TableBuilder(TableBuilder&&) noexcept;
  TableBuilder& operator=(TableBuilder&&) noexcept;
  ~TableBuilder();

  std::size_t column_count() const;
  const ColumnSpec& column(std::size_t index) const;

  // Each Append adds one cell to the end of the column; its type must match the column's.
  void AppendNull(std::size_t column);
  void AppendBool(std::size_t column, bool value);
  void AppendInt(std::size_t column, std::int32_t value);
  void AppendLong(std::size_t column, std::int64_t value);
  void AppendReal(std::size_t column, double value);
  void AppendTicks(std::size_t column, std::int64_t ticks);    // datetime, timespan
  void AppendText(std::size_t column, std::string_view text);  // decimal, string, guid, dynamic

  // Parses Kusto's text form of a cell (CSV input): empty is null except for strings.
  Status AppendParsed(std::size_t column, std::string_view text);

  // Checks that every column has the same length and every value is valid for its type; a misuse
  // (wrong type for a column) is reported here as BAD_REQUEST naming the column.
  StatusOr<std::string> Finish();
  // Finish() and open the result as a Table.
  StatusOr<Table> FinishTable(const TableLimits& limits = {});

  // Cells appended to `column` so far.
  std::uint64_t cell_count(std::size_t column) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A read-only view over a validated buffer. It does not own the bytes.
class TableView {
 public:
  // Validates every rule of TABLE_FORMAT.md (bounds, alignment, disjoint regions, offsets, UTF-8,
  // guid form, decimal form, JSON of bounded depth for dynamic, zeroed null slots) within `limits`.
  // BAD_REQUEST on failure, naming the column and the rule.
  static StatusOr<TableView> Open(std::span<const std::byte> buffer, const TableLimits& limits);

  // What a reader that knows more about the table adds to Open's checks.
  struct OpenOptions {
    // The columns the table must have, in order (names and types); null: any. Compared with the
    // column directory before any value is scanned, so a table of the wrong shape costs nothing
    // to refuse: SCHEMA_MISMATCH naming the first difference.
    const std::vector<ColumnSpec>* expected_columns = nullptr;
    // Polled while values are scanned (every few thousand cells or megabyte): once true, Open
    // gives up with TIMEOUT. For a caller whose deadline passes while it validates.
    const std::atomic<bool>* cancel = nullptr;
  };
  // Open with `options`. Validation costs O(buffer size) whatever the buffer claims: no two of
  // its regions may share a byte, and dynamic cells nest at most kMaxJsonDepth levels.
  static StatusOr<TableView> Open(std::span<const std::byte> buffer, const TableLimits& limits,
                                  const OpenOptions& options);

  std::uint64_t row_count() const { return rows_; }
  std::size_t column_count() const { return columns_.size(); }
  const ColumnSpec& column(std::size_t index) const { return columns_[index].spec; }
  std::vector<ColumnSpec> columns() const;
  std::span<const std::byte> buffer() const { return buffer_; }

  bool IsNull(std::size_t column, std::uint64_t row) const;
  bool GetBool(std::size_t column, std::uint64_t row) const;
  std::int32_t GetInt(std::size_t column, std::uint64_t row) const;
  std::int64_t GetLong(std::size_t column, std::uint64_t row) const;
  double GetReal(std::size_t column, std::uint64_t row) const;
  std::int64_t GetTicks(std::size_t column, std::uint64_t row) const;
  std::string_view GetText(std::size_t column, std::uint64_t row) const;

  // Kusto's text form of a cell, as sandboxctl writes CSV: "" for null.
  std::string FormatCell(std::size_t column, std::uint64_t row) const;

 private:
  friend class Table;
  // The same view over a moved copy of the same bytes.
  TableView Rebased(std::span<const std::byte> buffer) const;

  struct Column {
    ColumnSpec spec;
    const std::byte* validity = nullptr;  // null when the column has no nulls
    const std::byte* values = nullptr;
    const std::byte* data = nullptr;
  };
  std::span<const std::byte> buffer_;
  std::uint64_t rows_ = 0;
  std::vector<Column> columns_;
};

// Validates a buffer without keeping a view: TableView::Open's checks, for callers that only
// need the verdict (TABLE_FORMAT.md calls this ValidateTable).
Status ValidateTable(std::span<const std::byte> buffer, const TableLimits& limits);

// An owning table: the buffer and its view. A default-constructed Table is the table with no
// columns and no rows (a valid SBXT buffer); a moved-from Table has an empty buffer() and a view
// with no columns and no rows.
class Table {
 public:
  Table();
  static StatusOr<Table> FromBuffer(std::string buffer, const TableLimits& limits = {});
  const TableView& view() const { return view_; }
  const std::string& buffer() const { return buffer_; }
  std::uint64_t row_count() const { return view_.row_count(); }
  std::size_t column_count() const { return view_.column_count(); }
  std::vector<ColumnSpec> columns() const { return view_.columns(); }

  Table(Table&& other) noexcept;
  Table& operator=(Table&& other) noexcept;
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;
  ~Table() = default;

 private:
  std::string buffer_;
  TableView view_;
};

// Rows of all `tables` in order, as one table (per-node results). Every table must have the same
// columns (names and types, in order); BAD_REQUEST naming the first difference otherwise. No
// tables gives the empty table.
StatusOr<Table> ConcatTables(std::span<const Table> tables, const TableLimits& limits = {});

}  // namespace sandboxd

// The SBXT validator (TableView::Open, ValidateTable): every byte from a client or a sandbox
// passes here before anything reads it. Its fuzz target is tests/fuzz/sbxt_validator_fuzz.cc.
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

using sbxt::CheckVariableValue;
using sbxt::IsVariable;
using sbxt::kDirectoryEntryBytes;
using sbxt::kHeaderBytes;
using sbxt::kMagic;
using sbxt::kMaxNameBytes;
using sbxt::LoadLe;

}  // namespace

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
        std::string message = where;
        message.append(": row ").append(std::to_string(r)).append(": ").append(why);
        return Fail(std::move(message));
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

}  // namespace sandboxd

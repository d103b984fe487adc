// Shared by the table, validator, CSV and client tests: a table of every type, and byte access for
// crafting hostile buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

#include "sandboxd/table.h"

namespace sandboxd::test {

inline std::span<const std::byte> AsBytes(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

inline std::uint64_t GetU64(const std::string& b, std::size_t at) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b.at(at + i));
  return v;
}
inline std::uint32_t GetU32(const std::string& b, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b.at(at + i));
  return v;
}
inline void PutU64(std::string& b, std::size_t at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b.at(at + i) = static_cast<char>((v >> (8 * i)) & 0xFF);
}
inline void PutU32(std::string& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.at(at + i) = static_cast<char>((v >> (8 * i)) & 0xFF);
}

// Directory entry fields of column `c`.
inline std::size_t Entry(std::size_t c) { return 32 + 64 * c; }
enum Field : std::size_t {
  kNameOffset = 0,
  kNameLength = 8,
  kType = 12,
  kValidityOffset = 16,
  kValidityLength = 24,
  kValuesOffset = 32,
  kValuesLength = 40,
  kDataOffset = 48,
  kDataLength = 56,
};
inline std::uint64_t Get(const std::string& b, std::size_t c, Field f) {
  return GetU64(b, Entry(c) + f);
}
inline void Set(std::string& b, std::size_t c, Field f, std::uint64_t v) {
  PutU64(b, Entry(c) + f, v);
}

// Ten columns, one of each type, four rows, with nulls and each type's extremes:
//   0 b:bool  1 i:int  2 l:long  3 r:real  4 dec:decimal  5 s:string  6 t:datetime
//   7 ts:timespan  8 g:guid  9 dyn:dynamic
inline std::string AllTypesTable() {
  TableBuilder builder({{"b", ColumnType::kBool},
                        {"i", ColumnType::kInt},
                        {"l", ColumnType::kLong},
                        {"r", ColumnType::kReal},
                        {"dec", ColumnType::kDecimal},
                        {"s", ColumnType::kString},
                        {"t", ColumnType::kDateTime},
                        {"ts", ColumnType::kTimeSpan},
                        {"g", ColumnType::kGuid},
                        {"dyn", ColumnType::kDynamic}});
  builder.AppendBool(0, true);
  builder.AppendBool(0, false);
  builder.AppendNull(0);
  builder.AppendBool(0, true);

  builder.AppendInt(1, std::numeric_limits<std::int32_t>::min());
  builder.AppendInt(1, std::numeric_limits<std::int32_t>::max());
  builder.AppendNull(1);
  builder.AppendInt(1, 0);

  builder.AppendLong(2, 9223372036854775707LL);
  builder.AppendNull(2);
  builder.AppendLong(2, std::numeric_limits<std::int64_t>::min());
  builder.AppendLong(2, std::numeric_limits<std::int64_t>::max());

  builder.AppendReal(3, std::numeric_limits<double>::quiet_NaN());
  builder.AppendReal(3, std::numeric_limits<double>::infinity());
  builder.AppendReal(3, -std::numeric_limits<double>::infinity());
  builder.AppendReal(3, -0.0);

  builder.AppendText(4, "-12345678901234567890.123456789");
  builder.AppendText(4, "NaN");
  builder.AppendNull(4);
  builder.AppendText(4, "1e-10");

  builder.AppendText(5, "h\xC3\xA9llo \xF0\x9F\x8C\x8D");
  builder.AppendText(5, "");
  builder.AppendNull(5);
  builder.AppendText(5, "a,\"b\"\n\tc");

  builder.AppendTicks(6, kMinDateTimeTicks);
  builder.AppendTicks(6, kMaxDateTimeTicks);
  builder.AppendNull(6);
  builder.AppendTicks(6, 0);

  builder.AppendTicks(7, -1);
  builder.AppendTicks(7, std::numeric_limits<std::int64_t>::min());
  builder.AppendTicks(7, std::numeric_limits<std::int64_t>::max());
  builder.AppendNull(7);

  builder.AppendText(8, "0F8FAD5B-D9CB-469F-A165-70867728950E");
  builder.AppendNull(8);
  builder.AppendText(8, "00000000-0000-0000-0000-000000000000");
  builder.AppendText(8, "ffffffff-ffff-ffff-ffff-ffffffffffff");

  builder.AppendText(9, R"({"a":[1,2,{"b":null}]})");
  builder.AppendText(9, "null");
  builder.AppendNull(9);
  builder.AppendText(9, "18446744073709551616");

  auto buffer = builder.Finish();
  return buffer.ok() ? buffer.value() : std::string();
}

}  // namespace sandboxd::test

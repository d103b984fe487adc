// Kusto's scalar types, as they travel in SBXT table buffers (proto/TABLE_FORMAT.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sandboxd/status.h"

namespace sandboxd {

enum class ColumnType : std::uint8_t {
  kBool = 1,
  kInt = 2,
  kLong = 3,
  kReal = 4,
  kDecimal = 5,
  kString = 6,
  kDateTime = 7,
  kTimeSpan = 8,
  kGuid = 9,
  kDynamic = 10,
};

// Canonical Kusto name: "bool", "int", "long", "real", "decimal", "string", "datetime",
// "timespan", "guid", "dynamic".
std::string_view ColumnTypeName(ColumnType type);
// Accepts the canonical names and Kusto's aliases (boolean, double, date, time, uniqueid),
// case-insensitively.
std::optional<ColumnType> ParseColumnTypeName(std::string_view name);
bool IsValidColumnType(std::uint8_t code);
// Fixed byte width of a value, or 0 for variable-width types (decimal, string, guid, dynamic).
std::size_t FixedWidth(ColumnType type);

// 100-ns ticks since 1970-01-01T00:00:00Z; Kusto's datetime range is 0001-01-01 .. 9999-12-31.
constexpr std::int64_t kMinDateTimeTicks = -621355968000000000LL;
constexpr std::int64_t kMaxDateTimeTicks = 2534023007999999999LL;

// Kusto's text forms, as `sandboxctl` reads and writes them.
std::string FormatDateTime(std::int64_t ticks);  // 2024-01-31T12:00:00.1234567Z (fraction trimmed)
StatusOr<std::int64_t> ParseDateTime(std::string_view text);  // ISO 8601, Z or no zone = UTC
std::string FormatTimeSpan(std::int64_t ticks);               // [-][d.]hh:mm:ss[.fffffff]
StatusOr<std::int64_t> ParseTimeSpan(std::string_view text);
// Canonical lower-case guid or an error; accepts upper case and braces on input.
StatusOr<std::string> CanonicalGuid(std::string_view text);
// Checks the decimal text form of TABLE_FORMAT.md.
bool IsValidDecimalText(std::string_view text);
// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF.
bool IsValidUtf8(std::string_view text);

}  // namespace sandboxd

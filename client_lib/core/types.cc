#include "sandboxd/types.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>

namespace sandboxd {
namespace {

// -Wpedantic objects to __int128 by name; the extension keyword marks it as intended.
__extension__ typedef __int128 Int128;

constexpr std::int64_t kTicksPerSecond = 10'000'000;
constexpr std::int64_t kTicksPerMinute = 60 * kTicksPerSecond;
constexpr std::int64_t kTicksPerHour = 60 * kTicksPerMinute;
constexpr std::int64_t kTicksPerDay = 24 * kTicksPerHour;

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string_view TrimAscii(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r' ||
                           text.front() == '\n')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

// Howard Hinnant's days_from_civil / civil_from_days: exact proleptic Gregorian arithmetic for
// any year, where gmtime/timegm may refuse year 1 or wrap around.
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

Civil CivilFromDays(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2 ? 1 : 0), m, d};
}

bool IsLeapYear(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(std::int64_t y, unsigned m) {
  static constexpr std::array<unsigned, 12> kDays = {31, 28, 31, 30, 31, 30,
                                                     31, 31, 30, 31, 30, 31};
  return (m == 2 && IsLeapYear(y)) ? 29 : kDays[m - 1];
}

// Reads exactly `count` digits at `pos`.
bool ReadFixedDigits(std::string_view text, std::size_t& pos, std::size_t count, unsigned& out) {
  if (pos + count > text.size()) return false;
  unsigned value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const char c = text[pos + i];
    if (!IsDigit(c)) return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  pos += count;
  out = value;
  return true;
}

// Reads 1..max_digits fraction digits as 100-ns ticks (right-padded to 7 digits).
bool ReadFraction(std::string_view text, std::size_t& pos, std::int64_t& ticks) {
  std::size_t digits = 0;
  std::int64_t value = 0;
  while (pos < text.size() && IsDigit(text[pos])) {
    if (digits == 7) return false;  // finer than Kusto's 100 ns would lose precision silently
    value = value * 10 + (text[pos] - '0');
    ++digits;
    ++pos;
  }
  if (digits == 0) return false;
  for (std::size_t i = digits; i < 7; ++i) value *= 10;
  ticks = value;
  return true;
}

Status DateTimeError(std::string_view text, std::string_view why) {
  return Status(ErrorCode::kBadRequest, "invalid datetime '" + std::string(text) +
                                            "': " + std::string(why) +
                                            " (expected ISO 8601 UTC, e.g. 2024-01-31T12:00:00Z)");
}

Status TimeSpanError(std::string_view text, std::string_view why) {
  return Status(ErrorCode::kBadRequest,
                "invalid timespan '" + std::string(text) + "': " + std::string(why) +
                    " (expected [-][d.]hh:mm:ss[.fffffff], or a number with a unit such as 1.5h)");
}

// Kusto timespan literal units (`2d`, `1.5h`, `30m`, `10s`, `100ms`, ...), longest first so
// that "ms" is not read as "m".
struct Unit {
  std::string_view name;
  std::int64_t ticks;
};
constexpr std::array<Unit, 20> kUnits = {{
    {"microseconds", 10},
    {"milliseconds", 10'000},
    {"microsecond", 10},
    {"millisecond", 10'000},
    {"minutes", kTicksPerMinute},
    {"seconds", kTicksPerSecond},
    {"minute", kTicksPerMinute},
    {"second", kTicksPerSecond},
    {"ticks", 1},
    {"hours", kTicksPerHour},
    {"tick", 1},
    {"hour", kTicksPerHour},
    {"days", kTicksPerDay},
    {"day", kTicksPerDay},
    {"min", kTicksPerMinute},
    {"ms", 10'000},
    {"d", kTicksPerDay},
    {"h", kTicksPerHour},
    {"m", kTicksPerMinute},
    {"s", kTicksPerSecond},
}};

StatusOr<std::int64_t> FinishTimeSpan(std::string_view original, bool negative, Int128 magnitude) {
  constexpr Int128 kMaxPositive = std::numeric_limits<std::int64_t>::max();
  if (magnitude > kMaxPositive + (negative ? 1 : 0)) {
    return TimeSpanError(original, "out of range");
  }
  return static_cast<std::int64_t>(negative ? -magnitude : magnitude);
}

StatusOr<std::int64_t> ParseTimeSpanWithUnit(std::string_view original, std::string_view text,
                                             bool negative) {
  std::size_t pos = 0;
  Int128 whole = 0;
  std::size_t whole_digits = 0;
  while (pos < text.size() && IsDigit(text[pos])) {
    whole = whole * 10 + (text[pos] - '0');
    if (whole > (static_cast<Int128>(1) << 64)) return TimeSpanError(original, "out of range");
    ++pos;
    ++whole_digits;
  }
  Int128 frac = 0;
  Int128 frac_scale = 1;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size() && IsDigit(text[pos])) {
      // Digits past 18 cannot change a tick count of any unit here; drop them.
      if (frac_scale < static_cast<Int128>(1'000'000'000'000'000'000LL)) {
        frac = frac * 10 + (text[pos] - '0');
        frac_scale *= 10;
      }
      ++pos;
    }
  }
  if (whole_digits == 0 && frac_scale == 1) return TimeSpanError(original, "no number");
  std::string_view unit_text = text.substr(pos);
  for (const Unit& unit : kUnits) {
    if (EqualsIgnoreCase(unit_text, unit.name)) {
      const Int128 ticks = whole * unit.ticks + frac * unit.ticks / frac_scale;
      return FinishTimeSpan(original, negative, ticks);
    }
  }
  return TimeSpanError(original, "unknown unit '" + std::string(unit_text) + "'");
}

}  // namespace

std::string_view ColumnTypeName(ColumnType type) {
  switch (type) {
    case ColumnType::kBool:
      return "bool";
    case ColumnType::kInt:
      return "int";
    case ColumnType::kLong:
      return "long";
    case ColumnType::kReal:
      return "real";
    case ColumnType::kDecimal:
      return "decimal";
    case ColumnType::kString:
      return "string";
    case ColumnType::kDateTime:
      return "datetime";
    case ColumnType::kTimeSpan:
      return "timespan";
    case ColumnType::kGuid:
      return "guid";
    case ColumnType::kDynamic:
      return "dynamic";
  }
  return "invalid";
}

std::optional<ColumnType> ParseColumnTypeName(std::string_view name) {
  struct Alias {
    std::string_view name;
    ColumnType type;
  };
  static constexpr std::array<Alias, 17> kAliases = {{
      {"bool", ColumnType::kBool},
      {"boolean", ColumnType::kBool},
      {"int", ColumnType::kInt},
      {"int32", ColumnType::kInt},
      {"long", ColumnType::kLong},
      {"int64", ColumnType::kLong},
      {"real", ColumnType::kReal},
      {"double", ColumnType::kReal},
      {"decimal", ColumnType::kDecimal},
      {"string", ColumnType::kString},
      {"datetime", ColumnType::kDateTime},
      {"date", ColumnType::kDateTime},
      {"timespan", ColumnType::kTimeSpan},
      {"time", ColumnType::kTimeSpan},
      {"guid", ColumnType::kGuid},
      {"uniqueid", ColumnType::kGuid},
      {"dynamic", ColumnType::kDynamic},
  }};
  for (const Alias& alias : kAliases) {
    if (EqualsIgnoreCase(name, alias.name)) return alias.type;
  }
  // Kusto documents `uuid` as a guid alias too.
  if (EqualsIgnoreCase(name, "uuid")) return ColumnType::kGuid;
  return std::nullopt;
}

bool IsValidColumnType(std::uint8_t code) { return code >= 1 && code <= 10; }

std::size_t FixedWidth(ColumnType type) {
  switch (type) {
    case ColumnType::kBool:
      return 1;
    case ColumnType::kInt:
      return 4;
    case ColumnType::kLong:
    case ColumnType::kReal:
    case ColumnType::kDateTime:
    case ColumnType::kTimeSpan:
      return 8;
    case ColumnType::kDecimal:
    case ColumnType::kString:
    case ColumnType::kGuid:
    case ColumnType::kDynamic:
      return 0;
  }
  return 0;
}

std::string FormatDateTime(std::int64_t ticks) {
  // Floor division so that instants before 1970 land on the right day.
  std::int64_t days = ticks / kTicksPerDay;
  std::int64_t rest = ticks % kTicksPerDay;
  if (rest < 0) {
    rest += kTicksPerDay;
    --days;
  }
  const Civil civil = CivilFromDays(days);
  const auto hour = static_cast<int>(rest / kTicksPerHour);
  const auto minute = static_cast<int>(rest / kTicksPerMinute % 60);
  const auto second = static_cast<int>(rest / kTicksPerSecond % 60);
  const auto fraction = static_cast<int>(rest % kTicksPerSecond);
  char buffer[64];
  int n = std::snprintf(buffer, sizeof(buffer), "%04lld-%02u-%02uT%02d:%02d:%02d",
                        static_cast<long long>(civil.year), civil.month, civil.day, hour, minute,
                        second);
  std::string out(buffer, static_cast<std::size_t>(n));
  if (fraction != 0) {
    n = std::snprintf(buffer, sizeof(buffer), ".%07d", fraction);
    std::string frac(buffer, static_cast<std::size_t>(n));
    while (frac.back() == '0') frac.pop_back();
    out += frac;
  }
  out += 'Z';
  return out;
}

StatusOr<std::int64_t> ParseDateTime(std::string_view original) {
  const std::string_view text = TrimAscii(original);
  std::size_t pos = 0;
  unsigned year = 0;
  unsigned month = 0;
  unsigned day = 0;
  if (!ReadFixedDigits(text, pos, 4, year))
    return DateTimeError(original, "expected a 4-digit year");
  if (pos >= text.size() || text[pos] != '-')
    return DateTimeError(original, "expected '-' after the year");
  ++pos;
  if (!ReadFixedDigits(text, pos, 2, month))
    return DateTimeError(original, "expected a 2-digit month");
  if (pos >= text.size() || text[pos] != '-')
    return DateTimeError(original, "expected '-' after the month");
  ++pos;
  if (!ReadFixedDigits(text, pos, 2, day)) return DateTimeError(original, "expected a 2-digit day");
  if (year < 1) return DateTimeError(original, "year 0000 is outside Kusto's range");
  if (month < 1 || month > 12) return DateTimeError(original, "month out of range");
  if (day < 1 || day > DaysInMonth(year, month)) return DateTimeError(original, "day out of range");

  unsigned hour = 0;
  unsigned minute = 0;
  unsigned second = 0;
  std::int64_t fraction = 0;
  if (pos < text.size() && (text[pos] == 'T' || text[pos] == 't' || text[pos] == ' ')) {
    ++pos;
    if (!ReadFixedDigits(text, pos, 2, hour))
      return DateTimeError(original, "expected a 2-digit hour");
    if (pos >= text.size() || text[pos] != ':')
      return DateTimeError(original, "expected ':' after the hour");
    ++pos;
    if (!ReadFixedDigits(text, pos, 2, minute))
      return DateTimeError(original, "expected 2-digit minutes");
    if (pos < text.size() && text[pos] == ':') {
      ++pos;
      if (!ReadFixedDigits(text, pos, 2, second))
        return DateTimeError(original, "expected 2-digit seconds");
      if (pos < text.size() && text[pos] == '.') {
        ++pos;
        if (!ReadFraction(text, pos, fraction)) {
          return DateTimeError(original, "expected 1 to 7 fraction digits");
        }
      }
    }
    if (hour > 23 || minute > 59 || second > 59)
      return DateTimeError(original, "time out of range");
  }

  std::int64_t offset_ticks = 0;
  if (pos < text.size()) {
    const char zone = text[pos];
    if (zone == 'Z' || zone == 'z') {
      ++pos;
    } else if (zone == '+' || zone == '-') {
      ++pos;
      unsigned offset_hours = 0;
      unsigned offset_minutes = 0;
      if (!ReadFixedDigits(text, pos, 2, offset_hours)) {
        return DateTimeError(original, "expected a zone offset +hh:mm");
      }
      if (pos < text.size() && text[pos] == ':') ++pos;
      if (!ReadFixedDigits(text, pos, 2, offset_minutes) || offset_hours > 23 ||
          offset_minutes > 59) {
        return DateTimeError(original, "expected a zone offset +hh:mm");
      }
      offset_ticks = offset_hours * kTicksPerHour + offset_minutes * kTicksPerMinute;
      if (zone == '-') offset_ticks = -offset_ticks;
    }
  }
  if (pos != text.size()) return DateTimeError(original, "unexpected text after the time");

  const std::int64_t days = DaysFromCivil(year, month, day);
  const std::int64_t ticks = days * kTicksPerDay + hour * kTicksPerHour + minute * kTicksPerMinute +
                             second * kTicksPerSecond + fraction - offset_ticks;
  if (ticks < kMinDateTimeTicks || ticks > kMaxDateTimeTicks) {
    return DateTimeError(original, "outside Kusto's range 0001-01-01 .. 9999-12-31");
  }
  return ticks;
}

std::string FormatTimeSpan(std::int64_t ticks) {
  // Unsigned magnitude: negating INT64_MIN would overflow.
  const std::uint64_t magnitude =
      ticks < 0 ? 0 - static_cast<std::uint64_t>(ticks) : static_cast<std::uint64_t>(ticks);
  const std::uint64_t day_ticks = static_cast<std::uint64_t>(kTicksPerDay);
  const std::uint64_t days = magnitude / day_ticks;
  const std::uint64_t rest = magnitude % day_ticks;
  const auto hours = static_cast<unsigned>(rest / kTicksPerHour);
  const auto minutes = static_cast<unsigned>(rest / kTicksPerMinute % 60);
  const auto seconds = static_cast<unsigned>(rest / kTicksPerSecond % 60);
  const auto fraction = static_cast<unsigned>(rest % kTicksPerSecond);
  std::string out;
  if (ticks < 0) out += '-';
  char buffer[64];
  if (days != 0) {
    out += std::to_string(days);
    out += '.';
  }
  int n = std::snprintf(buffer, sizeof(buffer), "%02u:%02u:%02u", hours, minutes, seconds);
  out.append(buffer, static_cast<std::size_t>(n));
  // Like .NET's constant ("c") format that Kusto prints: all seven digits when there is a fraction.
  if (fraction != 0) {
    n = std::snprintf(buffer, sizeof(buffer), ".%07u", fraction);
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

StatusOr<std::int64_t> ParseTimeSpan(std::string_view original) {
  std::string_view text = TrimAscii(original);
  bool negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  if (text.empty()) return TimeSpanError(original, "empty");

  // The clock form has a ':'; anything else is Kusto's number-with-unit literal.
  if (text.find(':') == std::string_view::npos) {
    return ParseTimeSpanWithUnit(original, text, negative);
  }

  std::size_t pos = 0;
  std::uint64_t first = 0;
  std::size_t first_digits = 0;
  while (pos < text.size() && IsDigit(text[pos])) {
    if (first_digits == 18) return TimeSpanError(original, "out of range");
    first = first * 10 + static_cast<std::uint64_t>(text[pos] - '0');
    ++pos;
    ++first_digits;
  }
  if (first_digits == 0) return TimeSpanError(original, "expected digits");

  std::uint64_t days = 0;
  unsigned hours = 0;
  if (pos < text.size() && text[pos] == '.') {
    days = first;
    ++pos;
    if (!ReadFixedDigits(text, pos, 2, hours))
      return TimeSpanError(original, "expected 2-digit hours");
  } else {
    if (first_digits > 2) return TimeSpanError(original, "expected 2-digit hours");
    hours = static_cast<unsigned>(first);
  }
  unsigned minutes = 0;
  unsigned seconds = 0;
  std::int64_t fraction = 0;
  if (pos >= text.size() || text[pos] != ':')
    return TimeSpanError(original, "expected ':' after the hours");
  ++pos;
  if (!ReadFixedDigits(text, pos, 2, minutes))
    return TimeSpanError(original, "expected 2-digit minutes");
  if (pos < text.size() && text[pos] == ':') {
    ++pos;
    if (!ReadFixedDigits(text, pos, 2, seconds))
      return TimeSpanError(original, "expected 2-digit seconds");
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      if (!ReadFraction(text, pos, fraction)) {
        return TimeSpanError(original, "expected 1 to 7 fraction digits");
      }
    }
  }
  if (pos != text.size()) return TimeSpanError(original, "unexpected text at the end");
  if (hours > 23 || minutes > 59 || seconds > 59) {
    return TimeSpanError(original, "hours, minutes or seconds out of range");
  }
  const Int128 magnitude = static_cast<Int128>(days) * kTicksPerDay +
                           static_cast<Int128>(hours) * kTicksPerHour +
                           static_cast<Int128>(minutes) * kTicksPerMinute +
                           static_cast<Int128>(seconds) * kTicksPerSecond + fraction;
  return FinishTimeSpan(original, negative, magnitude);
}

StatusOr<std::string> CanonicalGuid(std::string_view original) {
  std::string_view text = TrimAscii(original);
  if (text.size() >= 2 && ((text.front() == '{' && text.back() == '}') ||
                           (text.front() == '(' && text.back() == ')'))) {
    text = text.substr(1, text.size() - 2);
  }
  auto hex_digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string digits;
  if (text.size() == 36) {
    for (std::size_t i = 0; i < text.size(); ++i) {
      const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
      if (dash_position != (text[i] == '-')) {
        digits.clear();
        break;
      }
      if (!dash_position) digits += text[i];
    }
  } else if (text.size() == 32) {
    digits = std::string(text);
  }
  bool ok = digits.size() == 32;
  for (char c : digits) ok = ok && hex_digit(c) >= 0;
  if (!ok) {
    return Status(ErrorCode::kBadRequest,
                  "invalid guid '" + std::string(original) +
                      "' (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx in hex digits)");
  }
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out += '-';
    out += AsciiLower(digits[i]);
  }
  return out;
}

bool IsValidDecimalText(std::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  if (text == "NaN" || text == "Infinity" || text == "-Infinity") return true;
  std::size_t pos = 0;
  if (text[pos] == '-') ++pos;
  auto digits = [&]() {
    const std::size_t start = pos;
    while (pos < text.size() && IsDigit(text[pos])) ++pos;
    return pos > start;
  };
  if (!digits()) return false;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    if (!digits()) return false;
  }
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) ++pos;
    if (!digits()) return false;
  }
  return pos == text.size();
}

bool IsValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const unsigned char* end = p + text.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t length = 0;
    // The second byte's range excludes overlong forms (E0, F0), surrogates (ED) and code points
    // past U+10FFFF (F4), per the table in RFC 3629 section 4.
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) < length) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (std::size_t i = 2; i < length; ++i) {
      if (p[i] < 0x80 || p[i] > 0xBF) return false;
    }
    p += length;
  }
  return true;
}

}  // namespace sandboxd

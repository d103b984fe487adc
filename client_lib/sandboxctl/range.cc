#include "range.h"

#include <charconv>
#include <cmath>
#include <string>
#include <system_error>
#include <vector>

#include "sandboxd/schema.h"
#include "sandboxd/types.h"

namespace sandboxctl {
namespace {

// -Wpedantic objects to __int128 by name; the extension keyword marks it as intended.
__extension__ typedef __int128 Int128;

using sandboxd::ColumnType;
using sandboxd::ErrorCode;
using sandboxd::Status;
using sandboxd::StatusOr;

Status RangeError(std::string_view spec, const std::string& why) {
  return Status(ErrorCode::kBadRequest, "invalid range '" + std::string(spec) + "': " + why +
                                            " (expected NAME from START to STOP step STEP)");
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Whitespace-separated tokens; brackets, parentheses and quotes keep their spaces.
std::vector<std::string> Tokenize(std::string_view text) {
  std::vector<std::string> tokens;
  std::string current;
  int depth = 0;
  char quote = '\0';
  for (char c : text) {
    if (quote != '\0') {
      current += c;
      if (c == quote) quote = '\0';
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '[' || c == '(') {
      ++depth;
    } else if ((c == ']' || c == ')') && depth > 0) {
      --depth;
    } else if ((c == ' ' || c == '\t' || c == '\n' || c == '\r') && depth == 0) {
      if (!current.empty()) tokens.push_back(std::move(current));
      current.clear();
      continue;
    }
    current += c;
  }
  if (!current.empty()) tokens.push_back(std::move(current));
  return tokens;
}

enum class Kind { kLong, kReal, kDateTime, kTimeSpan };

struct Value {
  Kind kind;
  std::int64_t integer = 0;  // long value, or ticks
  double real = 0;
};

// `name(inner)` -> inner, when the token has that wrapper.
bool Unwrap(std::string_view token, std::string_view name, std::string_view& inner) {
  if (token.size() < name.size() + 2 || token.back() != ')') return false;
  if (!EqualsIgnoreCase(token.substr(0, name.size()), name) || token[name.size()] != '(') {
    return false;
  }
  inner = token.substr(name.size() + 1, token.size() - name.size() - 2);
  return true;
}

bool LooksLikeDate(std::string_view text) {
  return text.size() >= 10 && text[4] == '-' && text[7] == '-';
}

StatusOr<Value> ParseValue(std::string_view spec, std::string_view token) {
  std::string_view inner;
  if (Unwrap(token, "datetime", inner)) {
    auto ticks = sandboxd::ParseDateTime(inner);
    if (!ticks.ok()) return RangeError(spec, ticks.status().message());
    return Value{Kind::kDateTime, *ticks, 0};
  }
  if (Unwrap(token, "timespan", inner) || Unwrap(token, "time", inner)) {
    auto ticks = sandboxd::ParseTimeSpan(inner);
    if (!ticks.ok()) return RangeError(spec, ticks.status().message());
    return Value{Kind::kTimeSpan, *ticks, 0};
  }
  std::string_view number = token;
  if (!number.empty() && number.front() == '+') number.remove_prefix(1);
  const bool numeric = !number.empty() &&
                       number.find_first_not_of("0123456789.eE+-") == std::string_view::npos &&
                       number.find_first_of("0123456789") != std::string_view::npos;
  if (numeric && !LooksLikeDate(number)) {
    if (number.find_first_of(".eE") == std::string_view::npos) {
      std::int64_t value = 0;
      const auto result = std::from_chars(number.data(), number.data() + number.size(), value);
      if (result.ec == std::errc() && result.ptr == number.data() + number.size()) {
        return Value{Kind::kLong, value, static_cast<double>(value)};
      }
      return RangeError(spec, "'" + std::string(token) + "' is not a long");
    }
    double value = 0;
    const auto result = std::from_chars(number.data(), number.data() + number.size(), value);
    if (result.ec == std::errc() && result.ptr == number.data() + number.size() &&
        std::isfinite(value)) {
      return Value{Kind::kReal, 0, value};
    }
    return RangeError(spec, "'" + std::string(token) + "' is not a finite real");
  }
  if (LooksLikeDate(token)) {
    auto ticks = sandboxd::ParseDateTime(token);
    if (!ticks.ok()) return RangeError(spec, ticks.status().message());
    return Value{Kind::kDateTime, *ticks, 0};
  }
  auto ticks = sandboxd::ParseTimeSpan(token);
  if (ticks.ok()) return Value{Kind::kTimeSpan, *ticks, 0};
  return RangeError(spec,
                    "'" + std::string(token) + "' is not a number, datetime(...) or timespan");
}

Status TooMany(std::string_view spec, std::uint64_t max_rows) {
  return RangeError(spec, "it would make more than " + std::to_string(max_rows) + " rows");
}

// Rows of an integer-like range (long, datetime and timespan ticks), or an error.
StatusOr<std::uint64_t> IntegerRowCount(std::string_view spec, std::int64_t start,
                                        std::int64_t stop, std::int64_t step,
                                        std::uint64_t max_rows) {
  if (step == 0) return RangeError(spec, "step may not be 0");
  if ((step > 0 && start > stop) || (step < 0 && start < stop)) return std::uint64_t{0};
  const Int128 span = static_cast<Int128>(stop) - start;
  const Int128 count = span / step + 1;
  if (count > static_cast<Int128>(max_rows)) return TooMany(spec, max_rows);
  return static_cast<std::uint64_t>(count);
}

}  // namespace

StatusOr<sandboxd::Table> MakeRangeTable(std::string_view spec, std::uint64_t max_rows) {
  std::vector<std::string> tokens = Tokenize(spec);
  if (!tokens.empty() && EqualsIgnoreCase(tokens.front(), "range")) tokens.erase(tokens.begin());
  if (tokens.size() != 7 || !EqualsIgnoreCase(tokens[1], "from") ||
      !EqualsIgnoreCase(tokens[3], "to") || !EqualsIgnoreCase(tokens[5], "step")) {
    return RangeError(spec, "wrong shape");
  }
  // The name follows typeof's rules, bracketed form included.
  auto named = sandboxd::ParseColumnSpec(tokens[0] + ":long");
  if (!named.ok()) return RangeError(spec, "'" + tokens[0] + "' is not a column name");
  auto start = ParseValue(spec, tokens[2]);
  if (!start.ok()) return start.status();
  auto stop = ParseValue(spec, tokens[4]);
  if (!stop.ok()) return stop.status();
  auto step = ParseValue(spec, tokens[6]);
  if (!step.ok()) return step.status();

  auto is_number = [](Kind k) { return k == Kind::kLong || k == Kind::kReal; };
  ColumnType type;
  if (is_number(start->kind) && is_number(stop->kind) && is_number(step->kind)) {
    const bool real =
        start->kind == Kind::kReal || stop->kind == Kind::kReal || step->kind == Kind::kReal;
    type = real ? ColumnType::kReal : ColumnType::kLong;
  } else if (start->kind == Kind::kDateTime && stop->kind == Kind::kDateTime &&
             step->kind == Kind::kTimeSpan) {
    type = ColumnType::kDateTime;
  } else if (start->kind == Kind::kTimeSpan && stop->kind == Kind::kTimeSpan &&
             step->kind == Kind::kTimeSpan) {
    type = ColumnType::kTimeSpan;
  } else {
    return RangeError(spec,
                      "START and STOP must both be numbers, datetimes or timespans, "
                      "and STEP a number or a timespan to match");
  }

  sandboxd::TableBuilder builder({{named->name, type}});
  if (type == ColumnType::kReal) {
    const double a = start->real;
    const double b = stop->real;
    const double s = step->real;
    if (s == 0) return RangeError(spec, "step may not be 0");
    const double estimate = std::floor((b - a) / s);
    if (estimate + 1 > static_cast<double>(max_rows)) return TooMany(spec, max_rows);
    // START + i*STEP rather than repeated addition, so the error does not accumulate.
    for (std::uint64_t i = 0;; ++i) {
      const double value = a + static_cast<double>(i) * s;
      if ((s > 0 && value > b) || (s < 0 && value < b)) break;
      if (i >= max_rows) return TooMany(spec, max_rows);
      builder.AppendReal(0, value);
    }
    return builder.FinishTable();
  }
  auto count = IntegerRowCount(spec, start->integer, stop->integer, step->integer, max_rows);
  if (!count.ok()) return count.status();
  for (std::uint64_t i = 0; i < *count; ++i) {
    const std::int64_t value =
        static_cast<std::int64_t>(start->integer + static_cast<Int128>(i) * step->integer);
    if (type == ColumnType::kLong) {
      builder.AppendLong(0, value);
    } else {
      builder.AppendTicks(0, value);
    }
  }
  return builder.FinishTable();
}

}  // namespace sandboxctl

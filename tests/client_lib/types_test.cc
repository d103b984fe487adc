#include "sandboxd/types.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

namespace sandboxd {
namespace {

constexpr std::int64_t kSecond = 10'000'000;
constexpr std::int64_t kDay = 86'400 * kSecond;

TEST(TypesTest, NamesAndAliasesCaseInsensitive) {
  struct Case {
    const char* name;
    ColumnType type;
  };
  const Case cases[] = {
      {"bool", ColumnType::kBool},         {"boolean", ColumnType::kBool},
      {"Boolean", ColumnType::kBool},      {"int", ColumnType::kInt},
      {"long", ColumnType::kLong},         {"LONG", ColumnType::kLong},
      {"real", ColumnType::kReal},         {"double", ColumnType::kReal},
      {"Double", ColumnType::kReal},       {"decimal", ColumnType::kDecimal},
      {"string", ColumnType::kString},     {"datetime", ColumnType::kDateTime},
      {"date", ColumnType::kDateTime},     {"DateTime", ColumnType::kDateTime},
      {"timespan", ColumnType::kTimeSpan}, {"time", ColumnType::kTimeSpan},
      {"guid", ColumnType::kGuid},         {"uniqueid", ColumnType::kGuid},
      {"uuid", ColumnType::kGuid},         {"dynamic", ColumnType::kDynamic},
  };
  for (const Case& c : cases) {
    auto type = ParseColumnTypeName(c.name);
    ASSERT_TRUE(type.has_value()) << c.name;
    EXPECT_EQ(*type, c.type) << c.name;
  }
  for (const char* bad : {"", "float", "str", "object", "int8", "longg", " long"}) {
    EXPECT_FALSE(ParseColumnTypeName(bad).has_value()) << bad;
  }
}

TEST(TypesTest, CanonicalNamesCodesAndWidths) {
  for (std::uint8_t code = 1; code <= 10; ++code) {
    ASSERT_TRUE(IsValidColumnType(code));
    const auto type = static_cast<ColumnType>(code);
    EXPECT_EQ(ParseColumnTypeName(ColumnTypeName(type)), type);
  }
  EXPECT_FALSE(IsValidColumnType(0));
  EXPECT_FALSE(IsValidColumnType(11));
  EXPECT_FALSE(IsValidColumnType(255));
  EXPECT_EQ(ColumnTypeName(ColumnType::kReal), "real");
  EXPECT_EQ(FixedWidth(ColumnType::kBool), 1U);
  EXPECT_EQ(FixedWidth(ColumnType::kInt), 4U);
  EXPECT_EQ(FixedWidth(ColumnType::kLong), 8U);
  EXPECT_EQ(FixedWidth(ColumnType::kReal), 8U);
  EXPECT_EQ(FixedWidth(ColumnType::kDateTime), 8U);
  EXPECT_EQ(FixedWidth(ColumnType::kTimeSpan), 8U);
  EXPECT_EQ(FixedWidth(ColumnType::kDecimal), 0U);
  EXPECT_EQ(FixedWidth(ColumnType::kString), 0U);
  EXPECT_EQ(FixedWidth(ColumnType::kGuid), 0U);
  EXPECT_EQ(FixedWidth(ColumnType::kDynamic), 0U);
}

TEST(DateTimeTest, FormatsKnownInstants) {
  EXPECT_EQ(FormatDateTime(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatDateTime(kMinDateTimeTicks), "0001-01-01T00:00:00Z");
  EXPECT_EQ(FormatDateTime(kMaxDateTimeTicks), "9999-12-31T23:59:59.9999999Z");
  EXPECT_EQ(FormatDateTime(-1), "1969-12-31T23:59:59.9999999Z");
  EXPECT_EQ(FormatDateTime(1706702400LL * kSecond + 1234567), "2024-01-31T12:00:00.1234567Z");
  EXPECT_EQ(FormatDateTime(1706702400LL * kSecond + 5000000), "2024-01-31T12:00:00.5Z");
  EXPECT_EQ(FormatDateTime(951782400LL * kSecond), "2000-02-29T00:00:00Z");
  EXPECT_EQ(FormatDateTime(-11670998400LL * kSecond), "1600-02-29T00:00:00Z");
}

TEST(DateTimeTest, ParsesIsoForms) {
  struct Case {
    const char* text;
    std::int64_t ticks;
  };
  const std::int64_t noon = 1706702400LL * kSecond;
  const Case cases[] = {
      {"2024-01-31T12:00:00Z", noon},
      {"2024-01-31T12:00:00", noon},
      {"2024-01-31 12:00:00", noon},
      {"2024-01-31t12:00:00z", noon},
      {"2024-01-31T12:00Z", noon},
      {"  2024-01-31T12:00:00Z  ", noon},
      {"2024-01-31", noon - 12 * 3600 * kSecond},
      {"2024-01-31T12:00:00.1234567Z", noon + 1234567},
      {"2024-01-31T12:00:00.5Z", noon + 5000000},
      {"2024-01-31T13:00:00+01:00", noon},
      {"2024-01-31T11:30:00-0030", noon},
      {"0001-01-01T00:00:00Z", kMinDateTimeTicks},
      {"9999-12-31T23:59:59.9999999Z", kMaxDateTimeTicks},
      {"2000-02-29", 951782400LL * kSecond},
  };
  for (const Case& c : cases) {
    auto ticks = ParseDateTime(c.text);
    ASSERT_TRUE(ticks.ok()) << c.text << ": " << ticks.status().message();
    EXPECT_EQ(*ticks, c.ticks) << c.text;
  }
}

TEST(DateTimeTest, RejectsBadTextAndOutOfRange) {
  for (const char* bad : {"",
                          "2024",
                          "2024-1-31",
                          "2024-01-31T",
                          "2024-01-31T12",
                          "24-01-31",
                          "2024-13-01",
                          "2024-00-10",
                          "2023-02-29",
                          "2024-02-30",
                          "2024-04-31",
                          "0000-12-31",
                          "10000-01-01",
                          "2024-01-31T24:00:00",
                          "2024-01-31T12:60:00",
                          "2024-01-31T12:00:60",
                          "2024-01-31T12:00:00.12345678Z",
                          "2024-01-31T12:00:00.Z",
                          "2024-01-31T12:00:00ZZ",
                          "2024-01-31T12:00:00 x",
                          "0001-01-01T00:00:00+00:01",
                          "9999-12-31T23:59:59-00:01",
                          "yesterday"}) {
    auto ticks = ParseDateTime(bad);
    EXPECT_FALSE(ticks.ok()) << bad;
    if (!ticks.ok()) {
      EXPECT_EQ(ticks.status().code(), ErrorCode::kBadRequest);
    }
  }
}

TEST(DateTimeTest, RoundTripsAcrossTheWholeRange) {
  std::mt19937_64 random(42);
  std::uniform_int_distribution<std::int64_t> any(kMinDateTimeTicks, kMaxDateTimeTicks);
  for (int i = 0; i < 20000; ++i) {
    const std::int64_t ticks = any(random);
    const std::string text = FormatDateTime(ticks);
    auto back = ParseDateTime(text);
    ASSERT_TRUE(back.ok()) << text;
    ASSERT_EQ(*back, ticks) << text;
  }
  // Every day boundary of the first and last years, and around the epoch.
  for (std::int64_t t = kMinDateTimeTicks; t < kMinDateTimeTicks + 400 * kDay; t += kDay - 1) {
    ASSERT_EQ(*ParseDateTime(FormatDateTime(t)), t);
  }
  for (std::int64_t t = kMaxDateTimeTicks; t > kMaxDateTimeTicks - 400 * kDay; t -= kDay + 1) {
    ASSERT_EQ(*ParseDateTime(FormatDateTime(t)), t);
  }
  for (std::int64_t t = -3 * kDay; t < 3 * kDay; t += 3599 * kSecond + 7) {
    ASSERT_EQ(*ParseDateTime(FormatDateTime(t)), t);
  }
}

TEST(TimeSpanTest, FormatsLikeKusto) {
  EXPECT_EQ(FormatTimeSpan(0), "00:00:00");
  EXPECT_EQ(FormatTimeSpan(1), "00:00:00.0000001");
  EXPECT_EQ(FormatTimeSpan(15 * kSecond / 10), "00:00:01.5000000");
  EXPECT_EQ(FormatTimeSpan(kDay + 2 * 3600 * kSecond + 3 * 60 * kSecond + 4 * kSecond),
            "1.02:03:04");
  EXPECT_EQ(FormatTimeSpan(-(kDay + 2 * 3600 * kSecond + 3 * 60 * kSecond + 4 * kSecond + 5000000)),
            "-1.02:03:04.5000000");
  EXPECT_EQ(FormatTimeSpan(-kSecond), "-00:00:01");
  EXPECT_EQ(FormatTimeSpan(std::numeric_limits<std::int64_t>::max()), "10675199.02:48:05.4775807");
  EXPECT_EQ(FormatTimeSpan(std::numeric_limits<std::int64_t>::min()), "-10675199.02:48:05.4775808");
}

TEST(TimeSpanTest, ParsesClockFormsAndUnits) {
  struct Case {
    const char* text;
    std::int64_t ticks;
  };
  const Case cases[] = {
      {"00:00:00", 0},
      {"01:02:03", (3600 + 120 + 3) * kSecond},
      {"1.02:03:04", kDay + (7200 + 180 + 4) * kSecond},
      {"-1.02:03:04.5", -(kDay + (7200 + 180 + 4) * kSecond + 5000000)},
      {"+00:00:01", kSecond},
      {"00:00:00.0000001", 1},
      {"12:30", (12 * 3600 + 30 * 60) * kSecond},
      {"2d", 2 * kDay},
      {"1.5h", 5400 * kSecond},
      {"30m", 1800 * kSecond},
      {"10s", 10 * kSecond},
      {"100ms", kSecond / 10},
      {"-5min", -300 * kSecond},
  };
  for (const Case& c : cases) {
    auto ticks = ParseTimeSpan(c.text);
    ASSERT_TRUE(ticks.ok()) << c.text << ": " << ticks.status().message();
    EXPECT_EQ(*ticks, c.ticks) << c.text;
  }
  EXPECT_EQ(*ParseTimeSpan("7ticks"), 7);
  EXPECT_EQ(*ParseTimeSpan("2microseconds"), 20);
  EXPECT_EQ(*ParseTimeSpan("10675199.02:48:05.4775807"), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(*ParseTimeSpan("-10675199.02:48:05.4775808"), std::numeric_limits<std::int64_t>::min());
}

TEST(TimeSpanTest, RejectsBadText) {
  for (const char* bad :
       {"", "-", "abc", "1x", "24:00:00", "00:60:00", "00:00:60", "1.24:00:00", "123:00:00",
        "00:00:00.12345678", "00:00:00.", "1:2:3", "00:00:00 junk", "10675199.02:48:05.4775808",
        "10675200.00:00:00", "99999999999999999999d", "h", "1.5"}) {
    auto ticks = ParseTimeSpan(bad);
    EXPECT_FALSE(ticks.ok()) << bad;
  }
}

TEST(TimeSpanTest, RoundTrips) {
  std::mt19937_64 random(7);
  for (int i = 0; i < 20000; ++i) {
    const auto ticks = static_cast<std::int64_t>(random());
    auto back = ParseTimeSpan(FormatTimeSpan(ticks));
    ASSERT_TRUE(back.ok()) << FormatTimeSpan(ticks);
    ASSERT_EQ(*back, ticks);
  }
}

TEST(GuidTest, Canonicalizes) {
  const std::string canonical = "0f8fad5b-d9cb-469f-a165-70867728950e";
  EXPECT_EQ(*CanonicalGuid(canonical), canonical);
  EXPECT_EQ(*CanonicalGuid("0F8FAD5B-D9CB-469F-A165-70867728950E"), canonical);
  EXPECT_EQ(*CanonicalGuid("{0f8fad5b-d9cb-469f-a165-70867728950e}"), canonical);
  EXPECT_EQ(*CanonicalGuid("(0f8fad5b-d9cb-469f-a165-70867728950e)"), canonical);
  EXPECT_EQ(*CanonicalGuid("0f8fad5bd9cb469fa16570867728950e"), canonical);
  for (const char* bad :
       {"", "0f8fad5b-d9cb-469f-a165-70867728950", "0f8fad5b-d9cb-469f-a165-70867728950e0",
        "0f8fad5bd-9cb-469f-a165-70867728950e", "0g8fad5b-d9cb-469f-a165-70867728950e",
        "{0f8fad5b-d9cb-469f-a165-70867728950e", "0f8fad5b_d9cb_469f_a165_70867728950e"}) {
    EXPECT_FALSE(CanonicalGuid(bad).ok()) << bad;
  }
}

TEST(DecimalTest, TextForm) {
  for (const char* good : {"0", "-0", "1", "-1.5", "123456789012345678901234567890.123456789",
                           "1e10", "1E+10", "-2.5e-3", "NaN", "Infinity", "-Infinity", "007"}) {
    EXPECT_TRUE(IsValidDecimalText(good)) << good;
  }
  for (const char* bad : {"", "+1", ".5", "5.", "1e", "1e+", "--1", "nan", "inf", "1.2.3", "1,5",
                          " 1", "1 ", "0x10", "-Infinity ", "infinity"}) {
    EXPECT_FALSE(IsValidDecimalText(bad)) << bad;
  }
  EXPECT_TRUE(IsValidDecimalText(std::string(64, '9')));
  EXPECT_FALSE(IsValidDecimalText(std::string(65, '9')));
}

TEST(Utf8Test, AcceptsWellFormedRejectsTheRest) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("h\xC3\xA9llo"));          // é
  EXPECT_TRUE(IsValidUtf8("\xE2\x82\xAC"));          // €
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x8C\x8D"));      // 🌍
  EXPECT_TRUE(IsValidUtf8("\xED\x9F\xBF"));          // U+D7FF, just below surrogates
  EXPECT_TRUE(IsValidUtf8("\xEE\x80\x80"));          // U+E000, just above
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));      // U+10FFFF
  EXPECT_TRUE(IsValidUtf8(std::string("a\0b", 3)));  // NUL is valid UTF-8
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));             // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xC1\xBF"));             // overlong
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));         // overlong 3-byte
  EXPECT_FALSE(IsValidUtf8("\xF0\x80\x80\xAF"));     // overlong 4-byte
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));         // U+D800 surrogate
  EXPECT_FALSE(IsValidUtf8("\xED\xBF\xBF"));         // U+DFFF surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));     // U+110000
  EXPECT_FALSE(IsValidUtf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("\x80"));      // lone continuation
  EXPECT_FALSE(IsValidUtf8("\xC3"));      // truncated
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));  // truncated
  EXPECT_FALSE(IsValidUtf8("\xC3\x28"));  // bad continuation
  EXPECT_FALSE(IsValidUtf8("\xE2\x28\xA1"));
  EXPECT_FALSE(IsValidUtf8("\xF0\x9F\x8C\x28"));
}

}  // namespace
}  // namespace sandboxd

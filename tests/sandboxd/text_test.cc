#include "text.h"

#include <gtest/gtest.h>

#include <cstring>

#include "sandbox/init_report.h"

namespace sandboxd {
namespace {

TEST(SanitizeUtf8, KeepsValidTextAndReplacesInvalidBytes) {
  EXPECT_EQ(SanitizeUtf8("plain"), "plain");
  EXPECT_EQ(SanitizeUtf8("h\xc3\xa9llo \xf0\x9f\x98\x80"), "h\xc3\xa9llo \xf0\x9f\x98\x80");
  EXPECT_EQ(SanitizeUtf8("a\xff"
                         "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeUtf8("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  EXPECT_EQ(SanitizeUtf8("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(SanitizeUtf8("\xe2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // truncated
}

TEST(Format, MillisAndBytes) {
  EXPECT_EQ(FormatMillis(250), "250 ms");
  EXPECT_EQ(FormatMillis(600000), "600 s");
  EXPECT_EQ(FormatMillis(1500), "1.500 s");
  EXPECT_EQ(FormatBytes(1ULL << 30), "1 GiB");
  EXPECT_EQ(FormatBytes(64ULL << 20), "64 MiB");
  EXPECT_EQ(FormatBytes(100), "100 bytes");
}

TEST(InitReport, RejectsAnythingMalformed) {
  InitReport good;
  good.kind = InitReport::kExited;
  good.value = 3;
  auto bytes = [](const InitReport& r) {
    return std::span(reinterpret_cast<const std::byte*>(&r), sizeof(r));
  };
  ASSERT_TRUE(ParseInitReport(bytes(good)).has_value());
  EXPECT_FALSE(ParseInitReport(bytes(good).first(10)).has_value());
  InitReport bad = good;
  bad.magic = 0;
  EXPECT_FALSE(ParseInitReport(bytes(bad)).has_value());
  bad = good;
  bad.kind = 99;
  EXPECT_FALSE(ParseInitReport(bytes(bad)).has_value());
  bad = good;
  bad.value = 256;
  EXPECT_FALSE(ParseInitReport(bytes(bad)).has_value());
  bad = good;
  bad.kind = InitReport::kSignaled;
  bad.value = 0;
  EXPECT_FALSE(ParseInitReport(bytes(bad)).has_value());
  InitReport unterminated = good;
  std::memset(unterminated.message, 'x', sizeof(unterminated.message));
  auto parsed = ParseInitReport(bytes(unterminated));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(std::strlen(parsed->message), sizeof(parsed->message) - 1);
}

}  // namespace
}  // namespace sandboxd

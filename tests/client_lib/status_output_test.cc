// sandboxctl's rendering of `status` and `policy show`: sizes and durations an operator reads at
// a glance, and names from clients shown with their control characters escaped.
#include "status_output.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace sandboxctl {
namespace {

TEST(StatusOutput, FormatsBytesAndDurations) {
  EXPECT_EQ(FormatBytes(512), "512 bytes");
  EXPECT_EQ(FormatBytes(256ULL << 20), "256 MiB");
  EXPECT_EQ(FormatBytes(1ULL << 30), "1 GiB");
  EXPECT_EQ(FormatBytes((41ULL << 20) + (300ULL << 10)), "41.3 MiB");
  EXPECT_EQ(FormatDuration(850), "850 ms");
  EXPECT_EQ(FormatDuration(3'200), "3.2 s");
  EXPECT_EQ(FormatDuration(123'000), "2 min 03 s");
  EXPECT_EQ(FormatDuration(3'720'000), "1 h 02 min");
}

TEST(StatusOutput, ARequestIdCannotWriteControlCharactersToTheTerminal) {
  sandboxd::DaemonStatus status;
  status.version = "0.1.0";
  status.requests.push_back({"evil\x1b[2J\nid", "python3.11", "running", 1500, 48ULL << 20});
  std::ostringstream text;
  WriteStatusText(status, text);
  EXPECT_EQ(text.str().find('\x1b'), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("evil\\x1b[2J\\x0aid"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("48 MiB"), std::string::npos) << text.str();
  const auto json = nlohmann::json::parse(StatusJson(status));
  EXPECT_EQ(json["requests"][0]["id"], "evil\x1b[2J\nid");  // JSON escapes it itself
  EXPECT_EQ(json["requests"][0]["peak_memory_bytes"], 48ULL << 20);
}

TEST(StatusOutput, PolicyWithoutSeccompOrRulesSaysSo) {
  sandboxd::PolicyReport report;
  report.callout_path = "/etc/sandboxd/callout.json";
  std::ostringstream text;
  WritePolicyText(report, text);
  EXPECT_NE(text.str().find("--no-seccomp"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("every artifact URL is denied"), std::string::npos) << text.str();
}

}  // namespace
}  // namespace sandboxctl

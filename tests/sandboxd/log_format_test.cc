// Issue 12, structured logs, through real daemons: with --log-format json every line of the log is
// a JSON object and every line about a request carries its request_id; in text such a line begins
// "[req <id>]"; a bad log_format in the config file stops the daemon naming the key.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "daemon_fixture.h"
#include "wait_for.h"

namespace sandboxd::testing {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A request that succeeds and one whose script fails, each under an id of the test's choosing.
void RunTwoRequests(const DaemonProcess& daemon, const std::string& ok_id,
                    const std::string& failing_id) {
  Client client = daemon.Connect();
  Request request;
  request.request_id = ok_id;
  request.output_schema = "typeof(*, y:long)";
  request.script = "result = df\nresult['y'] = df['x'] * 2\n";
  request.input = RangeTable("x", 1, 3);
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  request.request_id = failing_id;
  request.script = "raise ValueError('on purpose')\n";
  outcome = client.Execute(request);
  ASSERT_FALSE(outcome.ok());
}

class LogFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!DefaultImageBuilt())
      GTEST_FAIL() << "image python3.11 is not built in " << ImagesDir()
                   << "; run runtime_images/build-image python3.11";
    char tmpl[] = "/tmp/sandboxd-logfmt-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // A daemon at debug level whose stderr goes to `log`; no warm sandboxes, so every request's
  // launch is its own (and logged with its id).
  std::unique_ptr<DaemonProcess> Start(const std::string& config_json,
                                       std::vector<std::string> args, const std::string& log) {
    DaemonOptions options;
    options.config_json = config_json;
    options.log_level = "debug";
    options.log_path = log;
    options.extra_args = std::move(args);
    options.extra_args.push_back("--warm-sandboxes=0");
    return DaemonProcess::Start(std::move(options));
  }
  std::string dir_;
};

TEST_F(LogFormatTest, JsonLinesCarryTheirRequestsId) {
  const std::string log = dir_ + "/daemon.log";
  {
    auto daemon = Start("{}", {"--log-format", "json"}, log);
    ASSERT_NE(daemon, nullptr) << ReadWholeFile(log);
    RunTwoRequests(*daemon, "log-json-ok", "log-json-failing");
  }  // stopped: its last lines are written
  const auto lines = Lines(ReadWholeFile(log));
  ASSERT_FALSE(lines.empty());
  std::map<std::string, std::vector<nlohmann::json>> by_request;
  for (const auto& line : lines) {
    const auto parsed = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(parsed.is_object()) << "not a JSON object: " << line;
    ASSERT_TRUE(parsed.contains("time") && parsed.contains("level") && parsed.contains("message"))
        << line;
    const std::string message = parsed["message"];
    for (const char* id : {"log-json-ok", "log-json-failing"}) {
      // Where a line names a request, it carries that request's id as a field.
      if (message.find(std::string("'") + id + "'") != std::string::npos) {
        EXPECT_EQ(parsed.value("request_id", ""), id) << line;
      }
    }
    if (parsed.contains("request_id")) by_request[parsed["request_id"]].push_back(parsed);
  }
  for (const char* id : {"log-json-ok", "log-json-failing"}) {
    const auto& mine = by_request[id];
    // accepted, launching, answered by its execution, answered to the client
    EXPECT_GE(mine.size(), 4U) << id;
    bool accepted = false, launched = false, answered = false;
    for (const auto& line : mine) {
      const std::string message = line["message"];
      if (message.find("accepted") != std::string::npos) {
        accepted = true;
        EXPECT_EQ(line.value("peer_uid", -1), static_cast<int>(::getuid())) << line;
      }
      if (message.find("launching") != std::string::npos) {
        launched = true;
        EXPECT_EQ(line.value("image", ""), "python3.11") << line;
        EXPECT_FALSE(line.value("sandbox", "").empty()) << line;
      }
      if (line.contains("code")) {
        answered = true;
        EXPECT_EQ(line["code"] == "OK", std::string(id) == "log-json-ok") << line;
      }
    }
    EXPECT_TRUE(accepted && launched && answered) << id;
  }
}

TEST_F(LogFormatTest, TextLinesBeginWithTheirRequestAndTheFlagWinsOverTheConfig) {
  const std::string log = dir_ + "/daemon.log";
  {
    auto daemon = Start(R"({"log_format": "json"})", {"--log-format", "text"}, log);
    ASSERT_NE(daemon, nullptr) << ReadWholeFile(log);
    RunTwoRequests(*daemon, "log-text-ok", "log-text-failing");
  }
  std::size_t about_requests = 0;
  for (const auto& line : Lines(ReadWholeFile(log))) {
    ASSERT_NE(line.front(), '{') << "a JSON line although --log-format text: " << line;
    for (const char* id : {"log-text-ok", "log-text-failing"}) {
      if (line.find(std::string("'") + id + "'") == std::string::npos) continue;
      ++about_requests;
      EXPECT_NE(line.find(std::string(" [req ") + id + "] "), std::string::npos) << line;
    }
  }
  EXPECT_GE(about_requests, 4U);
}

TEST_F(LogFormatTest, ABadLogFormatInTheConfigNamesTheKey) {
  const std::string log = dir_ + "/daemon.log";
  auto daemon = Start(R"({"log_format": "xml"})", {}, log);
  EXPECT_EQ(daemon, nullptr);
  const std::string text = ReadWholeFile(log);
  EXPECT_NE(text.find("log_format must be \"text\", \"json\" or \"journald\", not \"xml\""),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace sandboxd::testing

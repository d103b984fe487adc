// Issue 12: the daemon's Prometheus endpoint. The exposition passes `promtool check metrics`
// (Debian's prometheus package), and its counters move as requests run.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <stdio.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include "daemon_fixture.h"
#include "wait_for.h"

namespace sandboxd::testing {
namespace {

std::size_t Append(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// GET `url`: the body, and the status code in `code`.
std::string Get(const std::string& url, long& code) {
  std::string body;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  code = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(curl);
  return body;
}

// `promtool check metrics` on `text`: its verdict and what it said.
bool PromtoolAccepts(const std::string& text, std::string& said) {
  const std::string path = ::testing::TempDir() + "metrics_" + std::to_string(::getpid());
  std::ofstream(path) << text;
  FILE* pipe = ::popen(("promtool check metrics < " + path + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return false;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) said += buffer;
  const int status = ::pclose(pipe);
  std::filesystem::remove(path);
  return status == 0;
}

// The value of the sample `name` (with its labels, as exposed), or -1.
double Sample(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!DefaultImageBuilt()) GTEST_SKIP() << "image python3.11 is not built in " << ImagesDir();
    ASSERT_EQ(std::system("command -v promtool >/dev/null"), 0)
        << "promtool is missing: scripts/setup.sh installs Debian's prometheus package";
    log_ = ::testing::TempDir() + "metrics_test_" + std::to_string(::getpid()) + ".log";
    DaemonOptions options;
    options.extra_args = {"--warm-sandboxes", "1", "--metrics-listen", "127.0.0.1:0"};
    options.log_path = log_;
    options.log_level = "info";
    daemon_ = DaemonProcess::Start(options);
    ASSERT_NE(daemon_, nullptr);
    // The port the kernel chose is in the log line that announces the endpoint.
    const std::regex announced(R"(metrics on (http://[0-9.]+:[0-9]+/metrics))");
    WaitUntil(
        [&] {
          std::smatch match;
          const std::string log = ReadWholeFile(log_);
          if (std::regex_search(log, match, announced)) url_ = match[1];
          return !url_.empty();
        },
        std::chrono::seconds(10));
    ASSERT_FALSE(url_.empty()) << "the daemon did not announce its metrics endpoint";
  }
  void TearDown() override { std::filesystem::remove(log_); }

  std::string Scrape() {
    long code = 0;
    std::string text = Get(url_, code);
    EXPECT_EQ(code, 200) << text;
    return text;
  }

  std::string log_, url_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(MetricsTest, TheExpositionPassesPromtoolAndItsCountersMoveWithRequests) {
  const std::string before = Scrape();
  std::string said;
  EXPECT_TRUE(PromtoolAccepts(before, said)) << said << "\n" << before;
  EXPECT_EQ(Sample(before, "sandboxd_requests_total{code=\"OK\"}"), -1) << "nothing answered yet";
  EXPECT_EQ(Sample(before, "sandboxd_sandbox_slots"), 16);

  Client client = daemon_->Connect();
  for (int i = 0; i < 3; ++i) {
    Request request;
    request.output_schema = "typeof(x:long)";
    request.script = "result = pd.DataFrame({'x': [1, 2, 3]})\n";
    auto outcome = client.Execute(request);
    ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  }
  Request failing;
  failing.output_schema = "typeof(x:long)";
  failing.script = "raise ValueError('no')\n";
  auto outcome = client.Execute(failing);
  ASSERT_FALSE(outcome.ok());
  ASSERT_EQ(outcome.error().code, ErrorCode::kScriptError);

  const std::string after = Scrape();
  said.clear();
  EXPECT_TRUE(PromtoolAccepts(after, said)) << said << "\n" << after;
  EXPECT_EQ(Sample(after, "sandboxd_requests_total{code=\"OK\"}"), 3) << after;
  EXPECT_EQ(Sample(after, "sandboxd_requests_total{code=\"SCRIPT_ERROR\"}"), 1) << after;
  EXPECT_EQ(Sample(after, "sandboxd_run_seconds_count"), 4) << after;
  EXPECT_EQ(Sample(after, "sandboxd_run_seconds_bucket{le=\"+Inf\"}"), 4) << after;
  EXPECT_EQ(Sample(after, "sandboxd_queue_seconds_count"), 4) << after;
  EXPECT_GT(Sample(after, "sandboxd_output_bytes_total"), 0) << after;
  EXPECT_GE(Sample(after, "sandboxd_sandboxes_ready{image=\"python3.11\"}"), 0) << after;
}

TEST_F(MetricsTest, OnlyMetricsIsServed) {
  long code = 0;
  const std::string base = url_.substr(0, url_.size() - std::string("/metrics").size());
  Get(base + "/", code);
  EXPECT_EQ(code, 404);
  Get(base + "/metrics/../secret", code);
  EXPECT_EQ(code, 404);
  Get(url_, code);
  EXPECT_EQ(code, 200);
}

}  // namespace
}  // namespace sandboxd::testing

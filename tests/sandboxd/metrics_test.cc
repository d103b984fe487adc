// Issue 12: the daemon's Prometheus endpoint. The exposition passes `promtool check metrics`
// (Debian's prometheus package), and its counters move as requests run.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <string>

#include "daemon_fixture.h"
#include "metrics_scrape.h"

namespace sandboxd::testing {
namespace {

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
    url_ = AnnouncedMetricsUrl(log_);
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

// A running request is counted by its image and phase while it runs, and no longer once answered.
TEST_F(MetricsTest, UnansweredRequestsAreCountedByImageAndPhase) {
  const std::string beacon = BeaconName("metrics-");
  auto running = std::async(std::launch::async, [this, &beacon] {
    Client client = daemon_->Connect();
    Request request;
    request.output_schema = "typeof(released:bool)";
    request.script = ReleasedByTestPython(beacon);
    return client.Execute(request);
  });
  ASSERT_TRUE(WaitUntil([&] { return !ProcessesNamed(beacon).empty(); }, std::chrono::minutes(2)))
      << "the request's script did not start within 2 minutes";
  const std::string series = R"(sandboxd_requests_active{image="python3.11",phase="running"})";
  const std::string during = Scrape();
  std::string said;
  EXPECT_TRUE(PromtoolAccepts(during, said)) << said << "\n" << during;
  EXPECT_EQ(Sample(during, series), 1) << during;

  for (pid_t pid : ProcessesNamed(beacon)) Release(pid);
  auto outcome = running.get();
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_TRUE(outcome.result().table.view().GetBool(0, 0));
  // Answered: the request leaves the list as its answer goes out.
  std::string after;
  EXPECT_TRUE(WaitUntil(
      [&] {
        after = Scrape();
        return Sample(after, series) == -1;
      },
      std::chrono::seconds(30)))
      << after;
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

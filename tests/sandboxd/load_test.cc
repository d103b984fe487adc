// Issue 23 item 3: a bounded load test. Thousands of small requests (a 10-row table,
// `result = df`) at concurrency 8 and then 16 against one daemon (its defaults: a warm pool,
// zygotes, answers at the runner's "done"); every answer must be OK with the table it was sent.
// A rare wrong answer under load (issue 23 item 2: INTERNAL "the sandbox ended without a status
// report", once in ~3,000) fails it, with the daemon's debug lines of that request in its log;
// the run counts how often the order that caused it came (SANDBOXD_LOAD_SCALE=N: N times longer).
// Label `load`; it asserts nothing about speed.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.h"
#include "wait_for.h"

namespace sandboxd::testing {
namespace {

constexpr int kRows = 10;

std::string TenRows() {
  TableBuilder builder({{"x", ColumnType::kLong}});
  for (int i = 1; i <= kRows; ++i) builder.AppendLong(0, i);
  return builder.Finish().value();
}

// Sends `requests` requests from `concurrency` clients; returns the failures' texts.
std::vector<std::string> SendSmallRequests(const DaemonProcess& daemon, int requests,
                                           int concurrency) {
  const std::string input = TenRows();
  std::atomic<int> next{0};
  std::mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> clients;
  for (int c = 0; c < concurrency; ++c) {
    clients.emplace_back([&] {
      Client client = daemon.Connect(std::chrono::minutes(2));
      for (int i; (i = next.fetch_add(1)) < requests;) {
        Request request;
        request.request_id = "load-" + std::to_string(concurrency) + "-" + std::to_string(i);
        request.output_schema = "typeof(*)";
        request.script = "result = df\n";
        request.input = Table::FromBuffer(input).value();
        auto outcome = client.Execute(request);
        std::string failure;
        if (!outcome.ok()) {
          failure = outcome.error().ToString();
        } else if (outcome.result().table.row_count() != kRows ||
                   outcome.result().table.view().GetLong(0, kRows - 1) != kRows) {
          failure = "a result that is not its input";
        }
        if (failure.empty()) continue;
        std::lock_guard lock(mu);
        failures.push_back(request.request_id + ": " + failure);
      }
    });
  }
  for (auto& client : clients) client.join();
  return failures;
}

TEST(LoadTest, ThousandsOfSmallRequestsAtConcurrency8And16AreAllAnsweredOk) {
  if (!DefaultImageBuilt()) GTEST_SKIP() << "image python3.11 is not built in " << ImagesDir();
  DaemonOptions options;
  options.log_level = "debug";  // each request's end, for a failure's post-mortem
  char tmpl[] = "/tmp/sandboxd-load-log-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string log_dir = tmpl;
  options.log_path = log_dir + "/daemon.log";
  auto daemon = DaemonProcess::Start(options);
  ASSERT_NE(daemon, nullptr);
  // SANDBOXD_LOAD_SCALE=N sends N times as many (a longer hunt for a rare wrong answer).
  const char* scale_env = std::getenv("SANDBOXD_LOAD_SCALE");
  const int scale = scale_env != nullptr ? std::max(1, std::atoi(scale_env)) : 1;
  std::vector<std::string> failures = SendSmallRequests(*daemon, 1000 * scale, 8);
  const std::vector<std::string> more = SendSmallRequests(*daemon, 1200 * scale, 16);
  failures.insert(failures.end(), more.begin(), more.end());
  EXPECT_TRUE(daemon->alive());
  daemon.reset();
  // The order that once lost the report (issue 23 item 2): init's exit and its streams' EOF were
  // handled before the status pipe's EOF; a single read at the exit found nothing when the
  // report had been read but not yet handled (none read, none left in the pipe). How often each
  // came in this run, every one answered right:
  std::printf(
      "of %d runs, %zu ended before their status pipe's EOF was handled, %zu of them with the "
      "report neither handled nor in the pipe\n",
      2200 * scale, CountInFile(options.log_path, "came before its status pipe's EOF"),
      CountInFile(options.log_path, "status pipe's EOF (0 report bytes read, 0 in the pipe)"));
  for (const auto& failure : failures) ADD_FAILURE() << failure;
  if (failures.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(log_dir, ec);
  } else {
    std::printf("the daemon's log (debug): %s\n", options.log_path.c_str());
  }
}

}  // namespace
}  // namespace sandboxd::testing

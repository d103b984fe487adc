// Issue 9: sandboxes are forked from one zygote per image; a zygote that dies is replaced; a
// child's thread pools follow its CPU limit. (What a fork must not share is probe I4 of
// tests/security.)
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.h"
#include "metrics_scrape.h"
#include "process_tree.h"

namespace sandboxd::testing {
namespace {

// The zygotes of `daemon`: children of its launcher (its root helper's child) running zygote.py. A
// sandbox's init is one too (a fork of the zygote), and may still be exiting after its request was
// answered.
std::vector<pid_t> ZygotesOf(const DaemonProcess& daemon) {
  std::vector<pid_t> zygotes;
  const pid_t launcher = LauncherOf(daemon.pid());
  for (pid_t pid : ProcessesWithCmdline("/sandbox/runtime/zygote.py")) {
    if (Comm(pid) == "sandbox-init") continue;
    if (launcher > 0 && ParentOf(pid) == launcher) zygotes.push_back(pid);
  }
  return zygotes;
}

// The inits of `daemon`'s sandboxes (children of its launcher).
std::vector<pid_t> SandboxInitsOf(const DaemonProcess& daemon) {
  std::vector<pid_t> inits;
  const pid_t launcher = LauncherOf(daemon.pid());
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    if (Comm(pid) != "sandbox-init") continue;
    if (launcher > 0 && ParentOf(pid) == launcher) inits.push_back(pid);
  }
  return inits;
}

class ZygoteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!DefaultImageBuilt()) GTEST_SKIP() << "image python3.11 is not built in " << ImagesDir();
  }

  static void ExpectServed(Client& client, std::int64_t value) {
    Request request;
    request.output_schema = "typeof(x:long)";
    request.script = "result = pd.DataFrame({'x': [kargs['v']]})\n";
    request.script_parameters_json = "{\"v\": " + std::to_string(value) + "}";
    auto outcome = client.Execute(request);
    ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
    EXPECT_EQ(outcome.result().table.view().GetLong(0, 0), value);
  }
};

TEST_F(ZygoteTest, FreshSandboxesAreForkedFromOneZygotePerImage) {
  auto daemon = DaemonProcess::Start({"--warm-sandboxes", "0"});
  ASSERT_NE(daemon, nullptr);
  Client client = daemon->Connect();
  for (int i = 0; i < 3; ++i) ExpectServed(client, i);
  EXPECT_EQ(ZygotesOf(*daemon).size(), 1U) << "three requests, one zygote";
}

TEST_F(ZygoteTest, AForkedUdfHasTheRunnersStandardStreams) {
  // As a launched runner: stdin is /dev/null (reads end at once), stdout and stderr reach the log.
  auto daemon = DaemonProcess::Start({"--warm-sandboxes", "0"});
  ASSERT_NE(daemon, nullptr);
  Client client = daemon->Connect();
  Request request;
  request.output_schema = "typeof(stdin:string)";
  request.script =
      "import sys\n"
      "print('to stdout')\n"
      "result = pd.DataFrame({'stdin': [repr(sys.stdin.read()) if sys.stdin else 'None']})\n";
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().table.view().GetText(0, 0), "''");
  bool printed = false;
  for (const auto& record : outcome.result().logs)
    printed = printed || record.message.find("to stdout") != std::string::npos;
  EXPECT_TRUE(printed);
}

TEST_F(ZygoteTest, AZygoteThatDiesIsReplacedAndRequestsGoOn) {
  const std::string log =
      ::testing::TempDir() + "zygote_test_" + std::to_string(::getpid()) + ".log";
  DaemonOptions options;
  options.extra_args = {"--warm-sandboxes", "0", "--metrics-listen", "127.0.0.1:0"};
  options.log_path = log;
  options.log_level = "info";
  auto daemon = DaemonProcess::Start(options);
  ASSERT_NE(daemon, nullptr);
  const std::string url = AnnouncedMetricsUrl(log);
  ASSERT_FALSE(url.empty()) << "the daemon did not announce its metrics endpoint";
  const std::string died = "sandboxd_zygote_restarts_total{image=\"python3.11\",reason=\"died\"}";
  const std::string reload =
      "sandboxd_zygote_restarts_total{image=\"python3.11\",reason=\"reload\"}";
  long code = 0;
  Client client = daemon->Connect();
  ExpectServed(client, 1);
  EXPECT_EQ(Sample(Get(url, code), died), -1) << "a first start is no restart";
  const auto before = ZygotesOf(*daemon);
  ASSERT_EQ(before.size(), 1U);
  ::kill(before[0], SIGKILL);
  // The launcher notices at its next fork at the latest: either way the request is served.
  ExpectServed(client, 2);
  const auto after = ZygotesOf(*daemon);
  ASSERT_EQ(after.size(), 1U);
  EXPECT_NE(after[0], before[0]);
  // An operator sees it: the restart is counted by its cause (issue 12).
  std::string text = Get(url, code);
  EXPECT_EQ(Sample(text, died), 1) << text;
  EXPECT_EQ(Sample(text, reload), -1) << text;
  // SIGHUP stops the zygotes; the next request's fork starts its image's zygote again.
  daemon->Signal(SIGHUP);
  EXPECT_TRUE(WaitUntil([&] { return CountInFile(log, "SIGHUP: zygotes restarted") > 0; },
                        std::chrono::seconds(60)));
  ExpectServed(client, 3);
  text = Get(url, code);
  EXPECT_EQ(Sample(text, died), 1) << text;
  EXPECT_EQ(Sample(text, reload), 1) << text;
  EXPECT_TRUE(daemon->alive());
  if (!getenv("KEEP_LOG")) std::filesystem::remove(log);
}

TEST_F(ZygoteTest, AChildReadsAndWritesTextColumnsThroughTheRunnersCLoops) {
  // The zygote loads _sandboxd_columns (runtime_images/native) with its own extension; its
  // children convert string, guid and decimal cells in C, and the values come back unchanged.
  auto daemon = DaemonProcess::Start({"--warm-sandboxes", "0"});
  ASSERT_NE(daemon, nullptr);
  Client client = daemon->Connect();
  TableBuilder builder({{"s", ColumnType::kString}, {"g", ColumnType::kGuid}});
  const std::vector<std::string> texts = {"", "plain", "na\xc3\xafve caf\xc3\xa9",
                                          "\xf0\x9d\x84\x9e"};
  for (const auto& text : texts) {
    builder.AppendText(0, text);
    builder.AppendNull(1);
  }
  auto input = builder.FinishTable();
  ASSERT_TRUE(input.ok());
  Request request;
  request.input = std::move(*input);
  request.output_schema = "typeof(s:string, native:bool, g_null:bool)";
  request.script =
      "import sandboxd_runtime.frames as frames\n"
      "result = pd.DataFrame({'s': df['s'], 'native': frames._columns is not None,\n"
      "                       'g_null': df['g'].isna()})\n";
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  const TableView& view = outcome.result().table.view();
  ASSERT_EQ(view.row_count(), texts.size());
  for (std::size_t row = 0; row < texts.size(); ++row) {
    EXPECT_EQ(view.GetText(0, row), texts[row]);
    EXPECT_TRUE(view.GetBool(1, row)) << "the child converted its cells in Python";
    EXPECT_TRUE(view.GetBool(2, row));
  }
}

TEST_F(ZygoteTest, WithoutZygotesEachSandboxStartsItsOwnInterpreter) {
  auto daemon = DaemonProcess::Start({"--warm-sandboxes", "0", "--no-zygotes"});
  ASSERT_NE(daemon, nullptr);
  Client client = daemon->Connect();
  ExpectServed(client, 5);
  EXPECT_TRUE(ZygotesOf(*daemon).empty());
}

TEST_F(ZygoteTest, AChildsThreadPoolsFollowItsCpuLimit) {
  // The zygote imports numpy with every pool at one thread; a child of a sandbox allowed two
  // CPUs gets two OpenBLAS threads and OMP_NUM_THREADS=2, as a fresh interpreter would.
  DaemonOptions options;
  options.config_json = R"({"limits": {"cpu_percent": 200}})";
  options.extra_args = {"--warm-sandboxes", "0"};
  auto daemon = DaemonProcess::Start(options);
  ASSERT_NE(daemon, nullptr);
  Client client = daemon->Connect();
  Request request;
  request.output_schema = "typeof(blas:long, omp:string)";
  request.script =
      "import os\n"
      "from threadpoolctl import threadpool_info\n"
      "blas = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']\n"
      "result = pd.DataFrame({'blas': [blas[0] if blas else -1],\n"
      "                       'omp': [os.environ.get('OMP_NUM_THREADS', '')]})\n";
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().table.view().GetLong(0, 0), 2);
  EXPECT_EQ(outcome.result().table.view().GetText(1, 0), "2");
}

TEST_F(ZygoteTest, AZygoteStartingUpDoesNotHoldTheEventLoop) {
  // The ML image's zygote imports torch and more before it can fork: seconds. With one io thread,
  // a launch made on it would hold every other connection that long; launches run on a thread
  // of their own, so a ListImages sent after the ML request is answered before it.
  if (!std::filesystem::exists(ImagesDir() + "/python3.11-ml/packages.lock"))
    GTEST_SKIP() << "image python3.11-ml is not built";
  DaemonOptions options;
  options.config_json = R"({"io_threads": 1})";
  options.extra_args = {"--warm-sandboxes", "0"};
  auto daemon = DaemonProcess::Start(options);
  ASSERT_NE(daemon, nullptr);
  std::atomic<bool> ml_answered{false};
  std::thread ml([&] {
    Client client = daemon->Connect();
    Request request;
    request.image = "python3.11-ml";
    request.output_schema = "typeof(x:long)";
    request.script = "result = pd.DataFrame({'x': [1]})\n";
    auto outcome = client.Execute(request);
    EXPECT_TRUE(outcome.ok()) << outcome.error().ToString();
    ml_answered = true;
  });
  // The ML request is being launched once its zygote exists (its imports take the time).
  for (int i = 0; i < 2000 && ZygotesOf(*daemon).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Client client = daemon->Connect();
  auto images = client.ListImages();
  // Answered while the ML sandbox was still being launched: no sandbox of it exists yet (a
  // launch holding the one io thread would have let ListImages through only after it).
  const bool launch_pending = !ml_answered && SandboxInitsOf(*daemon).empty();
  ml.join();
  ASSERT_TRUE(images.ok()) << images.status().ToString();
  EXPECT_TRUE(launch_pending) << "ListImages waited for the ML zygote's start";
}

}  // namespace
}  // namespace sandboxd::testing

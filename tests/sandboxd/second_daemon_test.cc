// A second daemon started with the same settings as a running one (the README's development
// command beside a production daemon) must neither kill nor disturb the first: it refuses to
// start, naming the first, and the first's running request and warm sandboxes carry on.
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <sstream>

#include "daemon_fixture.h"
#include "wait_for.h"

namespace sandboxd::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(SecondDaemon, WithTheSameSettingsRefusesToStartAndLeavesTheFirstAlone) {
  if (!DefaultImageBuilt()) GTEST_FAIL() << "image python3.11 is not built in " << ImagesDir();
  DaemonOptions options;
  options.cgroup_group_prefix = "sandboxd-second-";
  options.uid_base_start = 1'640'000'000U;
  auto first = DaemonProcess::Start(options);
  ASSERT_NE(first, nullptr);

  // A request that runs while the second daemon starts; its sandbox must survive. Its script
  // names itself (a beacon) and waits until the test has seen the second daemon refused and sends
  // it SIGUSR1.
  const std::string beacon = BeaconName("second-");
  auto running = std::async(std::launch::async, [&first, &beacon] {
    Client client = first->Connect();
    Request request;
    request.output_schema = "typeof(released:bool)";
    request.script = ReleasedByTestPython(beacon);
    return client.Execute(request);
  });
  const bool started =
      WaitUntil([&] { return !ProcessesNamed(beacon).empty(); }, std::chrono::minutes(2));
  ASSERT_TRUE(started) << "the first daemon's request did not start within 2 minutes";
  const std::vector<pid_t> script = ProcessesNamed(beacon);

  char tmpl[] = "/tmp/sandboxd-second-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  DaemonOptions again = options;  // same group, same uids; its own socket and folder
  again.dir = dir;
  again.log_path = dir + "/daemon.log";
  auto second = DaemonProcess::Start(again);
  EXPECT_EQ(second, nullptr) << "a second daemon with the same group and uids started";
  const std::string log = Slurp(dir + "/daemon.log");
  EXPECT_NE(log.find("another sandboxd (pid " + std::to_string(first->pid())), std::string::npos)
      << log;
  second.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);

  // The script the first daemon runs is the same process as before the second daemon's start.
  EXPECT_EQ(ProcessesNamed(beacon), script) << "the first daemon's sandbox did not survive";
  for (pid_t pid : script) Release(pid);
  auto outcome = running.get();
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_TRUE(outcome.result().table.view().GetBool(0, 0)) << "the script was not released";
  ASSERT_TRUE(first->alive());
  // And it still serves (its warm sandboxes were not swept).
  Client client = first->Connect();
  Request plain;
  plain.output_schema = "typeof(x:long)";
  plain.script = "result = pd.DataFrame({'x': [1]})\n";
  auto served = client.Execute(plain);
  EXPECT_TRUE(served.ok()) << served.error().ToString();
}

}  // namespace
}  // namespace sandboxd::testing

// Issue 10: a daemon started as root with --user runs as that user once it holds what needs root
// (privilege_drop.h). It serves requests; its /proc status shows the user's ids, no capability
// and no_new_privs, while its root helper and launcher stay root; a sandbox it must kill (a
// timeout), whose slot uid it may not signal itself, is killed through the helper; it reloads on
// SIGHUP and stops on SIGTERM with exit code 0, leaving no socket, claim, process or sandbox
// cgroup behind.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "daemon_fixture.h"
#include "process_tree.h"
#include "wait_for.h"

namespace sandboxd::testing {
namespace {

constexpr const char* kUser = "sandboxd-test";

// The test user, created once per machine (a system user without a home or a login shell);
// idempotent, so tests running side by side may race to create it.
std::optional<passwd> TestUser() {
  if (::getpwnam(kUser) == nullptr)
    (void)std::system(
        "useradd --system --no-create-home --shell /usr/sbin/nologin "
        "--user-group sandboxd-test >/dev/null 2>&1");
  const passwd* pw = ::getpwnam(kUser);
  if (pw == nullptr) return std::nullopt;
  return *pw;
}

std::string ProcStatusLine(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(key + ":")) {
      std::string value = line.substr(key.size() + 1);
      std::istringstream words(value);
      std::string word, joined;
      while (words >> word) joined += (joined.empty() ? "" : " ") + word;
      return joined;
    }
  }
  return "";
}

std::string Ids(unsigned id) {
  const std::string one = std::to_string(id);
  return one + " " + one + " " + one + " " + one;
}

// The sandboxes' cgroups left in the daemon's group (cgroup v1: one folder per hierarchy).
int SandboxCgroupsLeft(const std::string& group) {
  int left = 0;
  std::error_code ec;
  for (const auto& hierarchy : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
    const auto dir = hierarchy.path() / group;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
      left += entry.is_directory() ? 1 : 0;
  }
  return left;
}

TEST(UserTest, TheDaemonDropsToItsUserAndStillServesKillsAndStops) {
  if (!DefaultImageBuilt()) GTEST_FAIL() << "image python3.11 is not built in " << ImagesDir();
  if (::geteuid() != 0) GTEST_SKIP() << "the daemon must be started as root to drop to a user";
  const auto user = TestUser();
  ASSERT_TRUE(user.has_value()) << "could not create the user " << kUser;

  // Its own folder, which the user may traverse: the state folder (spill, artifacts) is below.
  char tmpl[] = "/tmp/sandboxd-user-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  ::chmod(dir.c_str(), 0755);
  DaemonOptions options;
  options.dir = dir;
  options.log_path = dir + "/daemon.log";
  options.log_level = "info";
  options.cgroup_group_prefix = "sandboxd-user-";
  options.uid_base_start = 1'650'000'000U;
  options.config_json = "{\"state_dir\": \"" + dir + "/state\"}";
  options.extra_args = {"--user", kUser};
  const std::string group = options.cgroup_group_prefix + std::to_string(::getpid());
  auto daemon = DaemonProcess::Start(options);
  ASSERT_NE(daemon, nullptr) << ReadWholeFile(options.log_path);
  const pid_t pid = daemon->pid();

  Client client = daemon->Connect();
  Request plain;
  plain.output_schema = "typeof(x:long)";
  plain.script = "result = pd.DataFrame({'x': [7]})\n";
  auto served = client.Execute(plain);
  ASSERT_TRUE(served.ok()) << served.error().ToString() << "\n" << ReadWholeFile(options.log_path);
  EXPECT_EQ(served.result().table.view().GetLong(0, 0), 7);

  // The daemon: the user's ids, only its group, no capability, no way to gain one by exec.
  EXPECT_EQ(ProcStatusLine(pid, "Uid"), Ids(user->pw_uid));
  EXPECT_EQ(ProcStatusLine(pid, "Gid"), Ids(user->pw_gid));
  EXPECT_EQ(ProcStatusLine(pid, "Groups"), std::to_string(user->pw_gid));
  for (const char* set : {"CapEff", "CapPrm", "CapInh", "CapAmb"})
    EXPECT_EQ(ProcStatusLine(pid, set), "0000000000000000") << set;
  EXPECT_EQ(ProcStatusLine(pid, "NoNewPrivs"), "1");
  // Its root helper and launcher stay root: they alone may clone sandboxes and map their ids.
  const auto helpers = ChildrenNamed(pid, "sandboxd-helper");
  ASSERT_EQ(helpers.size(), 1U);
  const pid_t helper = helpers[0];
  const pid_t launcher = LauncherOf(pid);
  ASSERT_GT(launcher, 0);
  EXPECT_EQ(ProcStatusLine(helper, "Uid"), Ids(0));
  EXPECT_EQ(ProcStatusLine(launcher, "Uid"), Ids(0));

  // A sandbox past its time is killed: its uid is a slot's, which the daemon may not signal,
  // so the kill goes through the helper.
  Request endless;
  endless.output_schema = "typeof(x:long)";
  endless.script = "while True:\n    pass\n";
  endless.timeout_ms = 1500;
  auto timed_out = client.Execute(endless);
  ASSERT_FALSE(timed_out.ok());
  EXPECT_EQ(timed_out.error().code, ErrorCode::kTimeout) << timed_out.error().ToString();
  EXPECT_TRUE(
      WaitUntil([&] { return LiveSandboxInitsOf(pid).size() <= 2; }, std::chrono::minutes(1)))
      << "the timed-out sandbox was not killed (2 warm ones may stay)";

  // SIGHUP: the policy recompiled (read as the user) and the zygotes restarted by the launcher.
  const auto reloads = CountInFile(options.log_path, "SIGHUP: seccomp policy");
  daemon->Signal(SIGHUP);
  EXPECT_TRUE(
      WaitUntil([&] { return CountInFile(options.log_path, "SIGHUP: seccomp policy") > reloads; },
                std::chrono::minutes(1)));
  served = client.Execute(plain);
  ASSERT_TRUE(served.ok()) << served.error().ToString();

  // SIGTERM: a clean stop, and nothing left behind.
  const std::string claim = "/run/lock/sandboxd/" + std::to_string(pid) + ".claim";
  EXPECT_TRUE(std::filesystem::exists(claim));
  daemon->Signal(SIGTERM);
  const auto status = daemon->WaitExit(std::chrono::seconds(120));
  ASSERT_TRUE(status.has_value()) << "the daemon did not stop";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status << "\n"
                                                               << ReadWholeFile(options.log_path);
  EXPECT_FALSE(std::filesystem::exists(daemon->socket_path())) << "the socket was left";
  EXPECT_FALSE(std::filesystem::exists(claim)) << "the instance claim was left";
  EXPECT_NE(::kill(helper, 0), 0) << "the root helper outlived the daemon";
  EXPECT_NE(::kill(launcher, 0), 0) << "the launcher outlived the daemon";
  EXPECT_EQ(SandboxCgroupsLeft(group), 0);
  const std::string log = ReadWholeFile(options.log_path);
  EXPECT_NE(log.find("running as user sandboxd-test"), std::string::npos) << log;
  EXPECT_EQ(log.find("refused to kill"), std::string::npos) << log;
  EXPECT_EQ(log.find("runs as root"), std::string::npos) << log;
  daemon.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(UserTest, WithoutAUserTheDaemonWarnsThatItRunsAsRoot) {
  if (!DefaultImageBuilt()) GTEST_FAIL() << "image python3.11 is not built in " << ImagesDir();
  if (::geteuid() != 0) GTEST_SKIP() << "the warning is for a daemon that runs as root";
  char tmpl[] = "/tmp/sandboxd-root-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  DaemonOptions options;
  options.dir = dir;
  options.log_path = dir + "/daemon.log";
  options.cgroup_group_prefix = "sandboxd-root-";
  options.uid_base_start = 1'655'000'000U;
  options.extra_args = {"--warm-sandboxes", "0"};
  auto daemon = DaemonProcess::Start(options);
  ASSERT_NE(daemon, nullptr);
  EXPECT_EQ(ProcStatusLine(daemon->pid(), "Uid"), Ids(0));
  EXPECT_NE(ReadWholeFile(options.log_path).find("the daemon runs as root"), std::string::npos);
  daemon.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace sandboxd::testing

// Issue 22: whatever a test starts dies with it. A child process starts what the fixtures start
// (Azurite, a daemon with its launcher and zygote, a sandbox running a script) and is killed with
// SIGKILL midway, as CTest kills a test at its TIMEOUT; nothing it started may be left: no
// process, mount or cgroup.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../artifacts/azurite.h"
#include "daemon_fixture.h"

namespace sandboxd::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr const char* kGroupPrefix = "sandboxd-leftover-";

struct ProcessInfo {
  pid_t ppid = 0;
  char state = '?';
  std::string comm;
  std::string start_time;  // with the pid: the same process, never a reused id
};

std::optional<ProcessInfo> ReadProcess(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  const auto open = stat.find('(');
  const auto close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return std::nullopt;
  ProcessInfo info;
  info.comm = stat.substr(open + 1, close - open - 1);
  std::istringstream rest(stat.substr(close + 2));
  std::vector<std::string> fields;
  for (std::string field; rest >> field;) fields.push_back(field);
  if (fields.size() < 20) return std::nullopt;
  info.state = fields[0][0];
  info.ppid = static_cast<pid_t>(std::stol(fields[1]));
  info.start_time = fields[19];
  return info;
}

std::map<pid_t, ProcessInfo> AllProcesses() {
  std::map<pid_t, ProcessInfo> all;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto pid = static_cast<pid_t>(std::stol(name));
    if (auto info = ReadProcess(pid)) all[pid] = *info;
  }
  return all;
}

// Every process below `root` (not `root` itself).
std::map<pid_t, ProcessInfo> Descendants(pid_t root) {
  const auto all = AllProcesses();
  std::map<pid_t, ProcessInfo> below;
  bool grew = true;
  while (grew) {
    grew = false;
    for (const auto& [pid, info] : all) {
      if (below.count(pid) != 0) continue;
      if (info.ppid == root || below.count(info.ppid) != 0) {
        below[pid] = info;
        grew = true;
      }
    }
  }
  return below;
}

bool HasComm(const std::map<pid_t, ProcessInfo>& processes, const std::string& comm) {
  for (const auto& [pid, info] : processes)
    if (info.comm == comm) return true;
  return false;
}

std::vector<std::string> CgroupsNamed(const std::string& group) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& hierarchy : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
    const auto path = hierarchy.path() / group;
    if (std::filesystem::exists(path, ec)) found.push_back(path.string());
  }
  if (std::filesystem::exists("/sys/fs/cgroup/" + group, ec))
    found.push_back("/sys/fs/cgroup/" + group);
  return found;
}

std::vector<std::string> MountsUnder(const std::vector<std::string>& dirs) {
  std::vector<std::string> found;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    for (const auto& dir : dirs)
      if (!dir.empty() && line.find(" " + dir) != std::string::npos) found.push_back(line);
  }
  return found;
}

// The child: starts everything, reports once a sandbox runs the script, then waits to be killed.
[[noreturn]] void StartEverythingThenWait(int report_fd) {
  auto fail = [&](const std::string& why) {
    const std::string line = "error " + why + "\n";
    (void)!::write(report_fd, line.data(), line.size());
    ::_exit(1);
  };
  char az_template[] = "/tmp/sandboxd-leftover-az-XXXXXX";
  const std::string az_dir = ::mkdtemp(az_template);
  auto* azurite = new Azurite;  // never destroyed: this process is killed
  std::string error;
  if (!azurite->Start(az_dir, error)) fail("azurite: " + error);

  DaemonOptions options;
  options.cgroup_group_prefix = kGroupPrefix;
  options.extra_args = {"--warm-sandboxes", "0"};
  DaemonProcess* daemon = DaemonProcess::Start(options).release();
  if (daemon == nullptr) fail("sandboxd did not start");

  std::thread([socket = daemon->socket_path(), report_fd] {
    ClientOptions client_options;
    client_options.reply_timeout = std::chrono::minutes(3);  // this process is killed long before
    auto client = Client::Connect(socket, client_options);
    std::string why = client.ok() ? "" : client.status().ToString();
    if (client.ok()) {
      Request request;
      request.output_schema = "typeof(x:long)";
      request.script = "import time\ntime.sleep(600)\nresult = pd.DataFrame({'x': [1]})\n";
      auto outcome = client->Execute(request);
      why = outcome.ok() ? "answered" : outcome.error().ToString();
    }
    // The request must still be running when this process is killed.
    const std::string line = "error the request ended: " + why + "\n";
    (void)!::write(report_fd, line.data(), line.size());
    ::_exit(1);
  }).detach();

  // Running: a sandbox's init (the daemon's descendant) has its UDF child.
  const auto until = steady_clock::now() + seconds(120);
  for (;;) {
    const auto below = Descendants(daemon->pid());
    bool udf_running = false;
    for (const auto& [pid, info] : below)
      if (info.comm == "sandbox-init")
        for (const auto& [child, child_info] : below)
          if (child_info.ppid == pid) udf_running = true;
    if (udf_running) break;
    if (steady_clock::now() > until) fail("no sandbox ran the script within 120 s");
    std::this_thread::sleep_for(milliseconds(50));
  }
  const std::string daemon_dir =
      std::filesystem::path(daemon->socket_path()).parent_path().string();
  const std::string line =
      "ready " + std::to_string(daemon->pid()) + " " + daemon_dir + " " + az_dir + "\n";
  (void)!::write(report_fd, line.data(), line.size());
  for (;;) ::pause();
}

TEST(Leftovers, NothingATestStartedOutlivesItsSigkill) {
  if (!DefaultImageBuilt()) GTEST_FAIL() << "image python3.11 is not built in " << ImagesDir();
  if (Azurite::Find().empty()) GTEST_FAIL() << "azurite-blob not found: run scripts/setup.sh";
  // Orphans come to this process, so it sees them go and reaps them (PID 1 here reaps nothing).
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(report[0]);
    StartEverythingThenWait(report[1]);
  }
  ::close(report[1]);

  std::string said;
  const auto until = steady_clock::now() + seconds(240);
  while (said.find('\n') == std::string::npos && steady_clock::now() < until) {
    pollfd pfd{report[0], POLLIN, 0};
    if (::poll(&pfd, 1, 1000) <= 0) continue;
    char buf[512];
    const ssize_t n = ::read(report[0], buf, sizeof(buf));
    if (n <= 0) break;
    said.append(buf, static_cast<std::size_t>(n));
  }
  ::close(report[0]);
  std::istringstream words(said);
  std::string word, daemon_dir, az_dir;
  pid_t daemon_pid = -1;
  words >> word >> daemon_pid >> daemon_dir >> az_dir;
  if (word != "ready") {
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    FAIL() << "the child did not start everything: " << said;
  }

  // What the child started, as it stands before the kill.
  const auto started = Descendants(child);
  EXPECT_TRUE(started.count(daemon_pid) != 0);
  EXPECT_TRUE(HasComm(started, "sandboxd-launch"));
  EXPECT_TRUE(HasComm(started, "sandbox-init"));
  EXPECT_TRUE(HasComm(started, "node")) << "Azurite";
  const std::string group = kGroupPrefix + std::to_string(child);
  EXPECT_FALSE(CgroupsNamed(group).empty()) << "the daemon made no cgroup group " << group;

  ASSERT_EQ(::kill(child, SIGKILL), 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);

  std::vector<std::string> alive, cgroups, mounts;
  const auto deadline = steady_clock::now() + seconds(120);
  do {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    alive.clear();
    for (const auto& [pid, info] : started) {
      const auto now = ReadProcess(pid);
      if (now && now->start_time == info.start_time && now->state != 'Z')
        alive.push_back(std::to_string(pid) + " " + info.comm);
    }
    cgroups = CgroupsNamed(group);
    mounts = MountsUnder({daemon_dir, az_dir});
    if (alive.empty() && cgroups.empty() && mounts.empty() && !std::filesystem::exists(daemon_dir))
      break;
    std::this_thread::sleep_for(milliseconds(100));
  } while (steady_clock::now() < deadline);
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);

  auto join = [](const std::vector<std::string>& items) {
    std::string text;
    for (const auto& item : items) text += "\n  " + item;
    return text;
  };
  EXPECT_TRUE(alive.empty()) << "processes left:" << join(alive);
  EXPECT_TRUE(cgroups.empty()) << "cgroups left:" << join(cgroups);
  EXPECT_TRUE(mounts.empty()) << "mounts left:" << join(mounts);
  EXPECT_FALSE(std::filesystem::exists(daemon_dir)) << daemon_dir << " was not removed";
  std::error_code ec;
  std::filesystem::remove_all(az_dir, ec);  // Azurite's workspace: files only, the test's own
}

}  // namespace
}  // namespace sandboxd::testing

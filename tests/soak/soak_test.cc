// Issue 10: the soak. SANDBOXD_SOAK_REQUESTS requests (CI: 240; the full run, README: 10 000)
// from 16 clients against one node, a tenth of them hostile (a memory bomb, a timeout, a fork
// bomb, an output flood, a forbidden system call, a segfault, parameters nested past the limit, a
// hostile result, a client that stalls mid-frame and one that vanishes after its request), with
// `kill -9` of the daemon halfway and a restart on the same socket, state and cgroups. It holds:
//  - every request is answered once with what its kind earns, or told UNAVAILABLE (only one that
//    was under way while the node was down);
//  - the killed daemon's launcher, zygote and sandboxes die with it, and the restarted daemon
//    serves;
//  - nothing leaks: the restarted daemon's and its launcher's descriptors and memory are where
//    they were after its warm-up once the load is gone; after it stops, no process of a sandbox
//    uid, no sandbox cgroup and no request or spill folder is left.
// It prints the plain requests' latency (p50, p99, outside the restart) and the memory figures; it
// asserts nothing about speed (bench/ does). Label `soak`.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.h"
#include "process_tree.h"
#include "sandboxd.pb.h"
#include "sandboxd/framing.h"
#include "wait_for.h"

namespace sandboxd::testing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kConcurrency = 16;

// What a soak request is, and what it must come back as.
enum class Kind {
  kPlain,
  kMemoryBomb,
  kTimeout,
  kForkBomb,
  kOutputFlood,
  kForbiddenSyscall,
  kSegfault,
  kDeepParameters,
  kHostileResult,
  kStalledClient,
  kVanishingClient,
};
constexpr Kind kHostileKinds[] = {
    Kind::kMemoryBomb,       Kind::kTimeout,        Kind::kForkBomb,       Kind::kOutputFlood,
    Kind::kForbiddenSyscall, Kind::kSegfault,       Kind::kDeepParameters, Kind::kHostileResult,
    Kind::kStalledClient,    Kind::kVanishingClient};

const char* NameOf(Kind kind) {
  switch (kind) {
    case Kind::kPlain:
      return "plain";
    case Kind::kMemoryBomb:
      return "memory bomb";
    case Kind::kTimeout:
      return "timeout";
    case Kind::kForkBomb:
      return "fork bomb";
    case Kind::kOutputFlood:
      return "output flood";
    case Kind::kForbiddenSyscall:
      return "forbidden syscall";
    case Kind::kSegfault:
      return "segfault";
    case Kind::kDeepParameters:
      return "deep parameters";
    case Kind::kHostileResult:
      return "hostile result";
    case Kind::kStalledClient:
      return "stalled client";
    case Kind::kVanishingClient:
      return "vanishing client";
  }
  return "?";
}

// Request i: every tenth is hostile, the kinds in turn.
Kind KindOf(int i) {
  if (i % 10 != 5) return Kind::kPlain;
  return kHostileKinds[(i / 10) % std::size(kHostileKinds)];
}

Request RequestFor(Kind kind, int i) {
  Request request;
  request.request_id = "soak-" + std::to_string(i);
  request.output_schema = "typeof(x:long)";
  request.script_parameters_json = "{\"v\": " + std::to_string(i) + "}";
  switch (kind) {
    case Kind::kPlain:
    case Kind::kStalledClient:
    case Kind::kVanishingClient:
      request.script = "result = pd.DataFrame({'x': [kargs['v']]})\n";
      break;
    case Kind::kMemoryBomb:
      request.memory_mb = 256;
      request.script = "x = b'\\x01' * (600 << 20)\n";
      break;
    case Kind::kTimeout:
      request.timeout_ms = 2000;
      request.script = "while True:\n    pass\n";
      break;
    case Kind::kForkBomb:
      // Forks until the pids limit says EAGAIN; the children sleep on, for the node to end.
      request.script = R"py(
import os, time
n = 0
while True:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    n += 1
result = pd.DataFrame({'x': [n]})
)py";
      break;
    case Kind::kOutputFlood:
      request.script = "while True:\n    print('x' * 100000)\n";
      break;
    case Kind::kForbiddenSyscall:
      request.script = "import ctypes\nctypes.CDLL(None).syscall(312, 1, 1, 0, 0, 0)  # kcmp\n";
      break;
    case Kind::kSegfault:
      request.script = "import ctypes\nctypes.string_at(0)\n";
      break;
    case Kind::kDeepParameters:
      request.script_parameters_json =
          "{\"v\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
      request.script = "result = pd.DataFrame({'x': [1]})\n";
      break;
    case Kind::kHostileResult:
      // A table header that claims a terabyte, and a "done" that claims as much.
      request.script = R"py(
import json, os, struct
os.ftruncate(5, 0)
os.pwrite(5, struct.pack('<8sQIIQ', b'SBXTBL01', 1, 1, 0, 1 << 40) + os.urandom(4096), 0)
os.write(6, json.dumps({'kind': 'done', 'result_bytes': 1 << 40}).encode() + b'\n')
os._exit(0)
)py";
      break;
  }
  return request;
}

// The answer request `i` of `kind` earns ("OK" or an error code's name, with what its message
// must hold).
struct Expected {
  std::string code;
  std::string message_part;
};
Expected ExpectedOf(Kind kind) {
  switch (kind) {
    case Kind::kMemoryBomb:
      return {"MEMORY_LIMIT", ""};
    case Kind::kTimeout:
      return {"TIMEOUT", ""};
    case Kind::kOutputFlood:
      return {"OUTPUT_LIMIT", ""};
    case Kind::kForbiddenSyscall:
      return {"POLICY_VIOLATION", "kcmp"};
    case Kind::kSegfault:
      return {"SCRIPT_ERROR", "SIGSEGV"};
    case Kind::kDeepParameters:
      return {"BAD_REQUEST", ""};
    case Kind::kHostileResult:
      return {"SCRIPT_ERROR", ""};
    default:
      return {"OK", ""};
  }
}

std::string FrameOf(const Request& request) {
  proto::ClientMessage message;
  message.set_version(proto::PROTOCOL_VERSION_1);
  auto* execute = message.mutable_execute();
  execute->set_request_id(request.request_id);
  execute->set_output_schema(request.output_schema);
  execute->set_script(request.script);
  execute->set_script_parameters_json(request.script_parameters_json);
  std::string payload;
  message.SerializeToString(&payload);
  return payload;
}

std::size_t CountEntries(const std::string& dir) {
  std::error_code ec;
  std::size_t n = 0;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

std::size_t OpenDescriptors(pid_t pid) {
  return pid > 0 ? CountEntries("/proc/" + std::to_string(pid) + "/fd") : 0;
}

// Resident memory of `pid` in KiB (0 if it is gone).
long ResidentKiB(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

// Processes whose real uid is in [first, first + count): the sandboxes' slot uids.
std::vector<pid_t> ProcessesOfUids(uid_t first, uid_t count) {
  std::vector<pid_t> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(entry.path() / "status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("Uid:", 0) != 0) continue;
      const uid_t uid = static_cast<uid_t>(std::stoul(line.substr(4)));
      if (uid >= first && uid - first < count) found.push_back(std::stoi(name));
      break;
    }
  }
  return found;
}

// Sandbox cgroups left in the daemons' group, in every hierarchy.
std::vector<std::string> SandboxCgroupsIn(const std::string& group) {
  std::vector<std::string> left;
  std::error_code ec;
  for (const auto& hierarchy : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
    const auto dir = hierarchy.path() / group;
    std::error_code inner;
    for (auto it = std::filesystem::directory_iterator(dir, inner);
         !inner && it != std::filesystem::directory_iterator(); it.increment(inner))
      if (it->is_directory()) left.push_back(it->path().string());
  }
  return left;
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto at = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1));
  return values[at];
}

class SoakTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!DefaultImageBuilt()) GTEST_SKIP() << "image python3.11 is not built in " << ImagesDir();
    char tmpl[] = "/tmp/sandboxd-soak-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    options_.dir = dir_;
    options_.config_json = "{\"state_dir\": \"" + dir_ + "/state\"}";
    options_.log_path = dir_ + "/daemon-1.log";
    options_.log_level = "info";
    options_.extra_args = {"--max-sandboxes", "16"};
    options_.cgroup_group_prefix = "sandboxd-soak-";
  }
  void TearDown() override {
    second_.reset();
    first_.reset();
    std::error_code ec;
    if (!HasFailure() && !getenv("KEEP_LOG")) std::filesystem::remove_all(dir_, ec);
    if (HasFailure()) std::printf("the soak's folder, with the daemons' logs: %s\n", dir_.c_str());
  }

  std::string dir_;
  DaemonOptions options_;
  std::unique_ptr<DaemonProcess> first_, second_;
};

TEST_F(SoakTest, HostileLoadWithAKilledDaemonLosesNoAnswerAndLeaksNothing) {
  const char* requests_env = std::getenv("SANDBOXD_SOAK_REQUESTS");
  const int requests = requests_env != nullptr ? std::max(200, std::atoi(requests_env)) : 240;
  const std::string socket = dir_ + "/sandboxd.sock";
  const uid_t uid_base = options_.uid_base_start + (::getpid() % 4096) * 64U;
  const std::string group = options_.cgroup_group_prefix + std::to_string(::getpid());

  first_ = DaemonProcess::Start(options_);
  ASSERT_NE(first_, nullptr);

  // The restart window: from just before the kill to the restarted daemon's first accept.
  std::atomic<Clock::rep> down_from{Clock::time_point::max().time_since_epoch().count()};
  std::atomic<Clock::rep> down_until{Clock::time_point::max().time_since_epoch().count()};
  std::atomic<int> next{0};
  std::atomic<int> sent_after_restart{0};
  std::mutex mu;
  std::vector<std::string> wrong;
  std::vector<double> plain_ms;
  std::map<std::string, int> answers;  // by kind and code, for the report
  int unavailable = 0;

  auto record = [&](int i, Kind kind, Clock::time_point start, const std::string& code,
                    const std::string& message) {
    const Clock::time_point end = Clock::now();
    const bool overlapped_restart = end.time_since_epoch().count() >= down_from.load() &&
                                    start.time_since_epoch().count() <= down_until.load();
    const Expected expected = ExpectedOf(kind);
    std::lock_guard lock(mu);
    ++answers[std::string(NameOf(kind)) + " " + code];
    if (code == "UNAVAILABLE" && overlapped_restart) {
      ++unavailable;
      return;
    }
    if (code != expected.code || message.find(expected.message_part) == std::string::npos) {
      wrong.push_back("request " + std::to_string(i) + " (" + NameOf(kind) + "): expected " +
                      expected.code + ", got " + code + ": " + message.substr(0, 300));
      return;
    }
    if (kind == Kind::kPlain && !overlapped_restart)
      plain_ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
  };

  auto client_loop = [&] {
    std::optional<Client> client;
    for (int i; (i = next.fetch_add(1)) < requests;) {
      const Kind kind = KindOf(i);
      const Request request = RequestFor(kind, i);
      const Clock::time_point start = Clock::now();
      if (start.time_since_epoch().count() > down_until.load()) sent_after_restart.fetch_add(1);
      if (kind == Kind::kStalledClient || kind == Kind::kVanishingClient) {
        // No answer is owed: the node must shrug it off. A stalled client sends half a frame
        // and holds it; a vanishing one sends a whole request and hangs up.
        UniqueFd raw = RawConnectTo(socket);
        if (raw.valid()) {
          const std::string frame = FrameOf(request);
          if (kind == Kind::kVanishingClient) {
            (void)SendFrame(raw.get(), frame);
          } else {
            const std::uint32_t length = static_cast<std::uint32_t>(frame.size());
            (void)!::write(raw.get(), &length, 2);
            std::this_thread::sleep_for(std::chrono::seconds(2));
          }
        }
        record(i, kind, start, "OK", "");
        continue;
      }
      if (!client) {
        // As an engine would: while the node is down, try again for a while before giving up.
        ClientOptions options;
        options.reply_timeout = std::chrono::minutes(3);
        auto connected = Client::Connect(socket, options);
        for (int tries = 0; !connected.ok() && tries < 2400; ++tries) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          connected = Client::Connect(socket, options);
        }
        if (!connected.ok()) {
          record(i, kind, start, "UNAVAILABLE", connected.status().ToString());
          continue;
        }
        client.emplace(std::move(connected.value()));
      }
      auto outcome = client->Execute(request);
      if (outcome.ok()) {
        const auto& table = outcome.result().table;
        const bool right =
            kind != Kind::kPlain || (table.row_count() == 1 && table.view().GetLong(0, 0) == i);
        record(i, kind, start, right ? "OK" : "OK but not its input", "");
        continue;
      }
      const auto& error = outcome.error();
      if (error.code == ErrorCode::kUnavailable) client.reset();  // the node went away
      record(i, kind, start, std::string(ErrorCodeName(error.code)), error.message);
    }
  };

  std::vector<std::thread> clients;
  for (int c = 0; c < kConcurrency; ++c) clients.emplace_back(client_loop);

  // Halfway: kill -9, then the same node again.
  ASSERT_TRUE(WaitUntil([&] { return next.load() >= requests / 2; }, std::chrono::minutes(30)));
  const pid_t killed = first_->pid();
  const auto helpers = ChildrenNamed(killed, "sandboxd-helper");
  const pid_t killed_helper = helpers.empty() ? -1 : helpers[0];
  const pid_t killed_launcher = LauncherOf(killed);
  down_from = Clock::now().time_since_epoch().count();
  first_->Signal(SIGKILL);
  ASSERT_TRUE(first_->WaitExit(std::chrono::seconds(60)).has_value());
  // Its tree goes with it (PDEATHSIG down the chain); its sandboxes with the launcher.
  EXPECT_TRUE(WaitUntil(
      [&] {
        return (killed_helper <= 0 || ::kill(killed_helper, 0) != 0) &&
               (killed_launcher <= 0 || ::kill(killed_launcher, 0) != 0);
      },
      std::chrono::seconds(60)))
      << "the killed daemon's root helper or launcher outlived it";
  options_.log_path = dir_ + "/daemon-2.log";
  second_ = DaemonProcess::Start(options_);
  down_until = Clock::now().time_since_epoch().count();
  ASSERT_NE(second_, nullptr) << "the daemon did not start again after kill -9";
  const pid_t daemon = second_->pid();

  // Its warm-up: the figures that must hold when the load is gone.
  ASSERT_TRUE(WaitUntil([&] { return sent_after_restart.load() >= kConcurrency * 2; },
                        std::chrono::minutes(10)));
  const std::size_t fds_warm = OpenDescriptors(daemon);
  const std::size_t launcher_fds_warm = OpenDescriptors(LauncherOf(daemon));
  const long rss_warm = ResidentKiB(daemon);
  long rss_peak = rss_warm;
  while (next.load() < requests) {
    rss_peak = std::max(rss_peak, ResidentKiB(daemon));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (auto& client : clients) client.join();

  // The load is gone: what the node holds goes back to its warm-up level.
  EXPECT_TRUE(second_->alive());
  const bool fds_back = WaitUntil(
      [&] {
        return OpenDescriptors(daemon) <= fds_warm + 4 &&
               OpenDescriptors(LauncherOf(daemon)) <= launcher_fds_warm + 4;
      },
      std::chrono::seconds(60));
  const long rss_end = ResidentKiB(daemon);
  std::printf(
      "soak: %d requests from %d clients, kill -9 after %d; %d told UNAVAILABLE across the "
      "restart\n",
      requests, kConcurrency, requests / 2, unavailable);
  for (const auto& [what, count] : answers) std::printf("  %-40s %d\n", what.c_str(), count);
  std::printf("soak: plain requests outside the restart: %zu, p50 %.1f ms, p99 %.1f ms\n",
              plain_ms.size(), Percentile(plain_ms, 0.5), Percentile(plain_ms, 0.99));
  std::printf(
      "soak: restarted daemon: %zu descriptors after warm-up, %zu at the end; launcher %zu, %zu; "
      "resident memory %ld KiB after warm-up, %ld KiB peak, %ld KiB at the end\n",
      fds_warm, OpenDescriptors(daemon), launcher_fds_warm, OpenDescriptors(LauncherOf(daemon)),
      rss_warm, rss_peak, rss_end);
  EXPECT_TRUE(fds_back) << "descriptors leaked: the daemon holds " << OpenDescriptors(daemon)
                        << " (" << fds_warm << " after warm-up), its launcher "
                        << OpenDescriptors(LauncherOf(daemon)) << " (" << launcher_fds_warm << ")";
  // Flat: a leak of a kilobyte per request would show in the full run.
  EXPECT_LE(rss_end, rss_warm + std::max(32L << 10, rss_warm / 4))
      << "the daemon's memory grew from " << rss_warm << " KiB to " << rss_end << " KiB";
  for (const auto& failure : wrong) ADD_FAILURE() << failure;

  // Stopped, the node leaves nothing: no process of a slot, no sandbox cgroup, no request folder.
  second_->Signal(SIGTERM);
  ASSERT_TRUE(second_->WaitExit(std::chrono::seconds(120)).has_value());
  EXPECT_TRUE(
      WaitUntil([&] { return ProcessesOfUids(uid_base, 64).empty(); }, std::chrono::seconds(30)))
      << ProcessesOfUids(uid_base, 64).size()
      << " processes of the sandboxes' uids outlived the node";
  const auto cgroups_left = SandboxCgroupsIn(group);
  EXPECT_TRUE(cgroups_left.empty())
      << cgroups_left.size() << " sandbox cgroups left, e.g. " << cgroups_left.front()
      << " holding [" << ReadWholeFile(cgroups_left.front() + "/cgroup.procs") << "] (daemons "
      << killed << " and " << daemon << ")";
  EXPECT_EQ(CountEntries(dir_ + "/state/artifacts/requests"), 0U) << "request folders left";
  EXPECT_EQ(CountEntries(dir_ + "/state/spill"), 0U) << "spill files left";
}

}  // namespace
}  // namespace sandboxd::testing

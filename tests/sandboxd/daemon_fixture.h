// Starts a real sandboxd (the built binary) on a private socket for integration tests, with the
// source tree's runner and the images built by runtime_images/build-image.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "leftover_guard.h"
#include "sandbox_dirs.h"
#include "sandboxd/client.h"
#include "test_paths.h"

namespace sandboxd::testing {

// A raw connected socket to the daemon listening on `socket_path`, for speaking broken protocol
// at it (invalid when nothing listens).
inline UniqueFd RawConnectTo(const std::string& socket_path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_path.c_str());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return {};
  return fd;
}

// A table of one long column `name` holding from..to.
inline Table RangeTable(const std::string& name, std::int64_t from, std::int64_t to) {
  TableBuilder builder({{name, ColumnType::kLong}});
  for (std::int64_t v = from; v <= to; ++v) builder.AppendLong(0, v);
  auto table = builder.FinishTable();
  EXPECT_TRUE(table.ok()) << table.status().ToString();
  return std::move(table.value());
}

// How a test daemon is started; the defaults suit the integration tests.
struct DaemonOptions {
  std::string config_json = "{}";       // the daemon's config file
  std::vector<std::string> extra_args;  // more flags
  std::string dir;                      // where its files go; empty: a fresh temporary folder
  std::string log_path;                 // its stderr; empty: inherited
  std::string log_level = "warn";
  // Test daemons may run side by side (ctest -j): each gets its own cgroup group and its own
  // range of host uids, derived from the test's pid.
  std::string cgroup_group_prefix = "sandboxd-test-";
  std::uint32_t uid_base_start = 1'600'000'000U;
  // The daemon's soft RLIMIT_NOFILE (its hard limit stays, so sandboxes may still raise theirs
  // to max_open_files); 0 keeps the test's.
  rlim_t max_open_files = 0;
};

class DaemonProcess {
 public:
  static std::unique_ptr<DaemonProcess> Start(std::vector<std::string> extra_args = {}) {
    DaemonOptions options;
    options.extra_args = std::move(extra_args);
    return Start(std::move(options));
  }

  static std::unique_ptr<DaemonProcess> Start(DaemonOptions options) {
    auto daemon = std::unique_ptr<DaemonProcess>(new DaemonProcess);
    if (options.dir.empty()) {
      char tmpl[] = "/tmp/sandboxd-test-XXXXXX";
      daemon->dir_ = ::mkdtemp(tmpl);
      daemon->owns_dir_ = true;
    } else {
      daemon->dir_ = options.dir;
    }
    daemon->socket_ = daemon->dir_ + "/sandboxd.sock";
    const std::string config = daemon->dir_ + "/sandboxd.conf";
    const std::string group = options.cgroup_group_prefix + std::to_string(::getpid());
    std::ofstream(config) << options.config_json << "\n";
    std::vector<std::string> args = {
        ::sandboxd::test_paths::kSandboxdBinary,
        "--foreground",
        "--config",
        config,
        "--socket",
        daemon->socket_,
        "--images-dir",
        ImagesDir(),
        "--runtime-dir",
        RuntimeDirForSandboxes(),
        "--log-level",
        options.log_level,
        "--cgroup-v1-group",
        group,
        "--uid-base",
        std::to_string(options.uid_base_start + (::getpid() % 4096) * 64U)};
    args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
    const pid_t test_pid = ::getpid();
    daemon->pid_ = ::fork();
    if (daemon->pid_ == 0) {
      DieWithParent(test_pid);
      if (!options.log_path.empty()) std::freopen(options.log_path.c_str(), "w", stderr);
      if (options.max_open_files != 0) {
        rlimit nofile{};
        ::getrlimit(RLIMIT_NOFILE, &nofile);
        nofile.rlim_cur = options.max_open_files;
        if (::setrlimit(RLIMIT_NOFILE, &nofile) != 0) ::_exit(126);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    if (daemon->pid_ > 0)
      daemon->guard_ = LeftoverGuard(daemon->pid_, group, daemon->owns_dir_ ? daemon->dir_ : "");
    // Ready when the socket accepts a connection.
    for (int i = 0; i < 200; ++i) {
      if (daemon->CanConnect()) return daemon;
      int status;
      if (::waitpid(daemon->pid_, &status, WNOHANG) == daemon->pid_) {
        daemon->pid_ = -1;
        daemon->guard_.Finish(LeftoverGuard::Ending::kDaemonNeverRan);
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return nullptr;
  }

  ~DaemonProcess() {
    Signal(SIGTERM);
    if (!WaitExit(std::chrono::seconds(10))) {
      Signal(SIGKILL);
      (void)WaitExit(std::chrono::seconds(60));
    }
    guard_.Finish(pid_ < 0 ? LeftoverGuard::Ending::kDaemonStopped
                           : LeftoverGuard::Ending::kDaemonDies);
    std::error_code ec;
    if (owns_dir_) std::filesystem::remove_all(dir_, ec);
  }

  const std::string& socket_path() const { return socket_; }
  pid_t pid() const { return pid_; }
  bool alive() const { return pid_ > 0 && ::kill(pid_, 0) == 0; }
  void Signal(int signal) const {
    if (pid_ > 0) ::kill(pid_, signal);
  }
  // Waits up to `limit` for the daemon to exit; its wait status, or nullopt if it still runs.
  std::optional<int> WaitExit(std::chrono::seconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (pid_ > 0) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return status;
      }
      if (std::chrono::steady_clock::now() >= until) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
  }

  // A lost answer fails the test with UNAVAILABLE instead of hanging it until CTest's TIMEOUT.
  Client Connect(std::chrono::milliseconds reply_timeout = std::chrono::minutes(3)) const {
    ClientOptions client_options;
    client_options.reply_timeout = reply_timeout;
    auto client = Client::Connect(socket_, client_options);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return std::move(client.value());
  }

  // A raw connected socket, for speaking broken protocol at the daemon.
  UniqueFd RawConnect() const { return RawConnectTo(socket_); }

 private:
  DaemonProcess() = default;
  bool CanConnect() const { return RawConnect().valid(); }
  std::string dir_;
  bool owns_dir_ = false;
  std::string socket_;
  pid_t pid_ = -1;
  LeftoverGuard guard_;  // removes the cgroup group and folder if the test dies first
};

// One daemon for a whole test suite (starting one per test would dominate the run time).
class DaemonTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!DefaultImageBuilt()) return;
    daemon_ = DaemonProcess::Start().release();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override {
    if (!DefaultImageBuilt())
      GTEST_FAIL() << "image python3.11 is not built in " << ImagesDir()
                   << "; run runtime_images/build-image python3.11";
    ASSERT_NE(daemon_, nullptr) << "sandboxd did not start";
  }
  static DaemonProcess* daemon_;
};
inline DaemonProcess* DaemonTest::daemon_ = nullptr;

}  // namespace sandboxd::testing

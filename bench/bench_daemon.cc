#include "bench_daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "sandboxd/client.h"
#include "test_paths.h"

namespace sandboxd::bench {
namespace {

[[noreturn]] void Exec(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  ::_exit(127);
}

}  // namespace

double RunTimed(const std::vector<std::string>& args, std::string* out) {
  int pipe_fds[2] = {-1, -1};
  if (out != nullptr && ::pipe2(pipe_fds, O_CLOEXEC) != 0) return -1;
  const auto t0 = Clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (out != nullptr) ::dup2(pipe_fds[1], STDOUT_FILENO);
    Exec(args);
  }
  if (out != nullptr) {
    ::close(pipe_fds[1]);
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0)
      out->append(buf, static_cast<std::size_t>(n));
    ::close(pipe_fds[0]);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  const double ms = Ms(Clock::now() - t0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? ms : -1;
}

std::unique_ptr<Daemon> Daemon::Start(const DaemonOptions& options) {
  std::unique_ptr<Daemon> d(new Daemon());
  char tmpl[] = "/tmp/sandboxd-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return nullptr;
  d->dir_ = tmpl;
  d->socket_ = d->dir_ + "/s.sock";
  std::ofstream(d->dir_ + "/conf") << options.config_json << "\n";
  std::vector<std::string> args = {
      ::sandboxd::test_paths::kSandboxdBinary,
      "--foreground",
      "--config",
      d->dir_ + "/conf",
      "--socket",
      d->socket_,
      "--images-dir",
      options.images_dir,
      "--runtime-dir",
      ::sandboxd::test_paths::kRuntimeSource,
      "--log-level",
      "warn",
      "--cgroup-v1-group",
      "bench-" + options.name + "-" + std::to_string(::getpid()),
      "--uid-base",
      std::to_string(1'700'000'000U + ((::getpid() % 1024) * 4 + options.slot) * 128),
      "--warm-sandboxes",
      std::to_string(options.warm_sandboxes),
      "--max-sandboxes",
      "40",
      "--max-queue",
      "256"};
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  d->pid_ = ::fork();
  if (d->pid_ == 0) Exec(args);
  for (int i = 0; i < 400; ++i) {
    if (Client::Connect(d->socket_).ok()) return d;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return nullptr;
}

Daemon::~Daemon() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

}  // namespace sandboxd::bench

// What the benches that start daemons of their own share: a daemon of the built sandboxd with
// the source tree's runner, on a private socket, cgroup group and uid range (run as root), and
// a child process timed from start to exit.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace sandboxd::bench {

using Clock = std::chrono::steady_clock;

inline double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Runs argv and waits; its wall time in ms, or a negative number when it failed. With `out`,
// what it wrote to stdout.
double RunTimed(const std::vector<std::string>& args, std::string* out = nullptr);

struct DaemonOptions {
  std::string images_dir = "/var/lib/sandboxd/images";
  std::string name;   // of its cgroup group: "<bench>-<name>-<pid>"
  unsigned slot = 0;  // picks its uid range among this bench's daemons
  unsigned warm_sandboxes = 0;
  std::string config_json = "{}";
  std::vector<std::string> extra_args;
};

// Stopped (SIGTERM, waited for) and its folder removed when destroyed.
class Daemon {
 public:
  static std::unique_ptr<Daemon> Start(const DaemonOptions& options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& socket() const { return socket_; }

 private:
  Daemon() = default;
  pid_t pid_ = -1;
  std::string dir_;
  std::string socket_;
};

}  // namespace sandboxd::bench

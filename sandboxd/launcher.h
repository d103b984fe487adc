// The launcher: a single-threaded fork server, exec'd fresh by the daemon before any thread
// exists, that clones each sandbox into its namespaces. The multithreaded daemon never forks;
// the launcher inherits none of its memory, locks or descriptors (DESIGN.md, "Lessons from the
// anchors"). Daemon and launcher talk over a socketpair with framed protobuf (launcher.proto).
#pragma once

#include <sys/types.h>

#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "launcher.pb.h"
#include "sandbox/sandbox_spec.h"
#include "sandboxd/status.h"
#include "sandboxd/unique_fd.h"

namespace sandboxd {

struct LaunchedSandbox {
  pid_t pid = -1;
  UniqueFd pidfd;  // of the sandbox's init; readable when it has exited
};

class LauncherClient {
 public:
  // Starts the launcher by exec'ing this binary in launcher mode and hands it `bounds`, which it
  // holds every later request against (launch_bounds.h). Call before any thread starts and
  // before anything from a client or a sandbox is read.
  static StatusOr<std::unique_ptr<LauncherClient>> Start(const internal::LaunchBounds& bounds);

  // Clones one sandbox. Thread-safe; requests are serialized over the one socket.
  StatusOr<LaunchedSandbox> Launch(const internal::LaunchRequest& request, const SandboxFds& fds);

  // Stops every zygote; the next fork of each image starts a fresh one (SIGHUP).
  Status RestartZygotes();

  pid_t pid() const { return pid_; }
  ~LauncherClient();

 private:
  LauncherClient(UniqueFd socket, pid_t pid) : socket_(std::move(socket)), pid_(pid) {}
  struct Reply {
    internal::LaunchReply reply;
    std::vector<UniqueFd> fds;
  };
  // One request and its reply (requests are serialized over the one socket); errors name the
  // step that failed.
  StatusOr<Reply> Call(const internal::LaunchRequest& request, std::span<const int> fds);
  std::mutex mu_;
  UniqueFd socket_;
  pid_t pid_;
};

// The argv[1] that puts the sandboxd binary in launcher mode.
inline constexpr const char* kLauncherModeFlag = "--internal-launcher";

// Notes where the launcher's command line lives, so sandbox inits can blank it.
void RememberLauncherArgv(int argc, char** argv);

// Launcher main loop on `socket_fd`; returns the process exit code.
int RunLauncher(int socket_fd, pid_t daemon_pid);

}  // namespace sandboxd

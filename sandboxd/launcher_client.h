// The daemon's side of its launcher (launcher/launcher_main.h): the single-threaded fork server
// that clones each sandbox into its namespaces. The multithreaded daemon never forks; the
// launcher inherits none of its memory, locks or descriptors (DESIGN.md, "Lessons from the
// anchors"). Daemon and launcher talk over a socketpair with framed protobuf (launcher.proto).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "launcher.pb.h"
#include "launcher/launched_sandbox.h"
#include "root_helper.h"
#include "sandbox/sandbox_spec.h"
#include "sandboxd/status.h"
#include "sandboxd/unique_fd.h"

namespace sandboxd {

class LauncherClient {
 public:
  // Has `helper` start the launcher (as root, its child: root_helper.h) and hands it `bounds`,
  // which it holds every later request against (launcher/launch_bounds.h). Call before anything
  // from a client or a sandbox is read. `call_timeout` bounds each call. `helper` outlives this
  // client.
  static StatusOr<std::unique_ptr<LauncherClient>> Start(
      const internal::LaunchBounds& bounds, RootHelper* helper,
      std::chrono::milliseconds call_timeout = std::chrono::minutes(3));

  // Clones one sandbox. Thread-safe; requests are serialized over the one socket.
  //
  // A launcher that does not answer within the call timeout, or that is gone, is wedged: it is
  // killed, and with it every sandbox and zygote it started (PR_SET_PDEATHSIG; their requests
  // are answered by their own supervision), this call fails INTERNAL, and a fresh launcher with
  // the same bounds serves the next call. Without that, one stuck launch would stop every later
  // launch and the daemon's shutdown (which waits for the launch thread).
  //
  // `zygote_failed` (optional) is set when the launch failed because the image's zygote could
  // not be started: a launch without the zygote may still work.
  StatusOr<LaunchedSandbox> Launch(const internal::LaunchRequest& request, const SandboxFds& fds,
                                   bool* zygote_failed = nullptr);

  // Stops every zygote; the next fork of each image starts a fresh one (SIGHUP).
  Status RestartZygotes();

  // How many times a wedged or lost launcher was replaced.
  unsigned restarts() const;
  ~LauncherClient();

 private:
  LauncherClient(const internal::LaunchBounds& bounds, RootHelper* helper,
                 std::chrono::milliseconds call_timeout)
      : bounds_(bounds), helper_(helper), call_timeout_(call_timeout) {}
  struct Reply {
    internal::LaunchReply reply;
    std::vector<UniqueFd> fds;
  };
  // One request and its reply (requests are serialized over the one socket); errors name the
  // step that failed.
  StatusOr<Reply> Call(const internal::LaunchRequest& request, std::span<const int> fds);
  // Has the root helper start a launcher and hands it the bounds. The daemon itself may have
  // dropped root by the time a launcher is replaced: only the helper can start one then.
  Status Spawn();
  // Kills the launcher (and so its sandboxes) and waits until it has exited (the helper reaps
  // it). Holds mu_.
  void Stop();
  // Stop(), then Spawn(); `why` goes to the log.
  void Replace(const std::string& why);

  const internal::LaunchBounds bounds_;
  RootHelper* const helper_;
  const std::chrono::milliseconds call_timeout_;
  mutable std::mutex mu_;
  UniqueFd socket_;
  pid_t pid_ = -1;
  UniqueFd pidfd_;  // of the launcher: readable once it has exited
  unsigned restarts_ = 0;
};

}  // namespace sandboxd

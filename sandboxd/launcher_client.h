// The daemon's side of its launcher (launcher/launcher_main.h): the fork server that clones each
// sandbox into its namespaces. The multithreaded daemon never forks; the launcher inherits none
// of its memory, locks or descriptors (docs/ARCHITECTURE.md, "Processes"). Daemon and
// launcher talk over a socketpair with framed protobuf (launcher.proto).
//
// Calls overlap (issue 24): each caller sends its request and waits for the reply that carries
// its request's sandbox_id; one reader thread per launcher reads the replies, in whatever order
// the launcher sends them, and hands each to its caller. A slow launch delays only its own
// caller (as far as the launcher itself serves requests side by side).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
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

  // Clones one sandbox. Thread-safe, and calls from several threads are under way at once: each
  // waits only for its own reply (matched by the request's sandbox_id, which must not be that of
  // another call under way).
  //
  // A launcher that does not answer within the call timeout, that is gone, or that answers
  // malformed is wedged: it is killed, and with it every sandbox and zygote it started
  // (PR_SET_PDEATHSIG; their requests are answered by their own supervision), this call and
  // every other one waiting on that launcher fail INTERNAL, and a fresh launcher with the same
  // bounds serves the next call. Without that, one stuck launch would stop every later launch
  // and the daemon's shutdown (which waits for the launch threads).
  //
  // `zygote_failed` (optional) is set when the launch failed because the image's zygote could
  // not be started: a launch without the zygote may still work.
  StatusOr<LaunchedSandbox> Launch(const internal::LaunchRequest& request, const SandboxFds& fds,
                                   bool* zygote_failed = nullptr);

  // Stops every zygote; the next fork of each image starts a fresh one (SIGHUP). Thread-safe.
  Status RestartZygotes();

  // How many times a wedged or lost launcher was replaced.
  unsigned restarts() const;
  // No call may be under way any more: it stops the launcher and joins its reader thread.
  ~LauncherClient();

 private:
  LauncherClient(const internal::LaunchBounds& bounds, RootHelper* helper,
                 std::chrono::milliseconds call_timeout)
      : bounds_(bounds), helper_(helper), call_timeout_(call_timeout) {}
  struct Reply {
    internal::LaunchReply reply;
    std::vector<UniqueFd> fds;
  };
  // One caller waiting for its reply (in Instance::pending, under mu_).
  struct Pending {
    bool done = false;
    std::optional<Reply> reply;  // the launcher's answer; none: `error`
    Status error;
    // Set when the launcher ended under this call (EOF, a read error, a malformed reply): why,
    // for the log of the replacement the woken caller does. Empty when a replacement is
    // already under way (another caller's timeout, the destructor).
    std::string replace_why;
    std::condition_variable woken;
  };
  // One launcher process: one generation. Shared by the callers that use it; its socket stays
  // open (only shut down) until the last of them lets go, so no caller sends on a reused fd.
  struct Instance {
    std::uint64_t generation = 0;
    UniqueFd socket;
    pid_t pid = -1;
    UniqueFd pidfd;      // of the launcher: readable once it has exited
    std::mutex send_mu;  // one frame at a time on the socket
    std::thread reader;  // ReadReplies, started and taken under mu_; joined by StopInstance
    // Under the client's mu_:
    std::map<std::string, Pending*> pending;  // by sandbox_id
    bool ended = false;       // the reader has stopped; nothing more will be answered
    std::string end_reason;   // why, when ended
    std::string stop_reason;  // set by StopInstance before it shuts the socket down
  };

  // One request and its reply; errors name the step that failed.
  StatusOr<Reply> Call(const internal::LaunchRequest& request, std::span<const int> fds);
  // Has the root helper start a launcher and hands it the bounds. The daemon itself may have
  // dropped root by the time a launcher is replaced: only the helper can start one then. Holds
  // no lock: called under replace_mu_ (or from Start).
  StatusOr<std::shared_ptr<Instance>> Spawn();
  // Starts the reader thread of `instance` unless it runs or the instance has ended. Under mu_,
  // at its first call: the daemon drops root (privilege_drop.h) after Start, which it may do
  // only while it has no thread but its main one.
  void StartReader(Instance& instance);
  // The reader thread of `instance`: hands each reply to its caller until EOF, an error or a
  // malformed reply, then fails every call still waiting on it.
  void ReadReplies(Instance* instance);
  // Kills the launcher if `kill` (else it gets a few seconds to exit on EOF), shuts its socket
  // down, waits until it has exited (the helper reaps it) and joins its reader. `why` goes to
  // the calls still waiting on it. Takes mu_ only briefly.
  void StopInstance(Instance& instance, bool kill, const std::string& why);
  // If `stale` is still the current launcher (or both are none): kills it, starts a fresh one
  // and makes that current; `why` goes to the log. Once per generation, however many callers
  // saw it fail.
  void ReplaceIfCurrent(const std::shared_ptr<Instance>& stale, const std::string& why);
  // A reply that nobody waits for (its call timed out): its sandbox is killed, its pidfd closed.
  static void Drop(Reply reply, const std::string& why);

  const internal::LaunchBounds bounds_;
  RootHelper* const helper_;
  const std::chrono::milliseconds call_timeout_;
  // Serializes replacements: the one that finds its launcher still current replaces it.
  std::mutex replace_mu_;
  mutable std::mutex mu_;
  std::shared_ptr<Instance> current_;  // under mu_; null: the last restart failed
  std::uint64_t generations_ = 0;      // under replace_mu_: launchers started so far
  unsigned restarts_ = 0;              // under mu_
  std::atomic<std::uint64_t> next_restart_id_{0};
};

}  // namespace sandboxd

// The launcher's zygotes (docs: README, "Performance"). A zygote is the image's Python with
// numpy, pandas, the runner and the manifest's preloads imported, single-threaded, started by
// the launcher in mount, network, IPC and UTS namespaces of its own whose root is the image
// (read-only, with the runner), holding no request data. A sandbox is a clone of it
// (CLONE_PARENT: the launcher's child, so it dies with the launcher and outlives a zygote's
// restart) that builds its own namespaces and confinement exactly as a launched sandbox does
// (sandbox/init.cc, RunZygoteSandboxInit) while the launcher writes its cgroups and id maps. A
// fresh sandbox then costs a fork instead of an interpreter start and ~0.4 s of imports.
//
// Launches overlap: each is a small state machine driven by the launcher's poll loop (queued for
// its zygote → fork asked → waiting for the child's user namespace → done), so a zygote forks
// the next sandbox while the last one builds its mounts, a zygote that starts (seconds of
// imports) delays only its own image's launches, and a child that is slow or wedged delays only
// itself and is killed at its step's bound.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "launched_sandbox.h"
#include "launcher.pb.h"
#include "poll_set.h"
#include "sandboxd/framing.h"
#include "sandboxd/status.h"
#include "sandboxd/unique_fd.h"

namespace sandboxd {

// How a zygote launch ended, handed to the launcher's loop to answer the daemon with.
struct ZygoteLaunchOutcome {
  std::string sandbox_id;
  StatusOr<LaunchedSandbox> sandbox = Status(ErrorCode::kInternal, "not launched");
  // The image's zygote could not be started (the daemon then launches the image's sandboxes
  // without one for a while: zygote_health.h).
  bool zygote_failed = false;
  // The launcher's end of the sandbox's sync socket: hold it until the sandbox is reaped (its
  // init reads EOF as "the launcher is gone" where PDEATHSIG cannot help).
  UniqueFd liveness;
};

class Zygotes {
 public:
  using Clock = std::chrono::steady_clock;
  using Done = std::function<void(ZygoteLaunchOutcome)>;

  // `done` receives every launch's outcome, exactly once, from within Fork, Handle or Expire.
  explicit Zygotes(Done done) : done_(std::move(done)) {}

  // Begins forking a sandbox from the zygote of the request's image (rootfs, runtime folder and
  // argv, the zygote's command line), starting that zygote first when there is none. `fds` are
  // the sandbox's descriptors, in descriptors.h's order.
  void Fork(const internal::LaunchRequest& request, std::vector<UniqueFd> fds);

  // Adds what the zygotes and the launches in progress wait for to `set`, and lowers
  // `timeout_ms` to the soonest of their bounds.
  void Watch(PollSet& set, int& timeout_ms);
  // Ends every step whose bound has passed.
  void Expire(Clock::time_point now);

  // A child of the launcher was reaped: a zygote that died fails or retries its launches and is
  // started afresh when next needed.
  void Reaped(pid_t pid);
  // Stops every zygote (SIGHUP); their sandboxes run on, and launches they had not answered go to
  // fresh ones.
  void StopAll();

  // Zygotes are restarted after this long (the address layout and hash seed they share with
  // every child are renewed).
  static constexpr std::chrono::minutes kMaxAge{60};
  // A zygote imports numpy, pandas and the image's preloads (torch, in the ML image) before it
  // is ready; on a loaded 2-core machine that can take many seconds.
  static constexpr std::chrono::seconds kStartBound{120};
  // A fork and the sandbox's own mounts take milliseconds; this only bounds a zygote or a child
  // that hangs.
  static constexpr std::chrono::seconds kStepBound{20};
  // Fork requests written to a zygote ahead of its answers: enough to keep it busy while the
  // launcher reads the last answer, few enough never to fill the socket (which would block the
  // launcher's loop).
  static constexpr std::size_t kForksInFlight = 2;

 private:
  enum class Step { kQueued, kForking, kAwaitingUserNamespace };
  struct Launch {
    internal::LaunchRequest request;
    std::string key;
    std::vector<UniqueFd> fds;  // the sandbox's, kept until it is done: a retry sends them again
    Step step = Step::kQueued;
    int failed_zygotes = 0;  // zygotes that ended with this launch's fork unanswered
    UniqueFd sync;           // the launcher's end of the child's sync socket
    LaunchedSandbox sandbox;
    Clock::time_point deadline;
  };
  struct Zygote {
    pid_t pid = -1;
    bool ready = false;
    UniqueFd socket;
    FrameReader reader{1 << 20, 1};
    Clock::time_point started;
    Clock::time_point ready_deadline;
    std::string rootfs;                 // for messages
    std::string restarted;              // why the one before ended, for the first launch it answers
    std::deque<std::uint64_t> queued;   // launches waiting to be sent
    std::deque<std::uint64_t> forking;  // sent, answers not yet read, in order
  };

  // Queues `id` on its image's zygote (starting one when there is none, or replacing an aged
  // one) and sends what the zygote can take.
  void Enqueue(std::uint64_t id);
  // Clones and execs a zygote for `key`, which says when it is ready (OnZygoteReadable).
  Status Start(const std::string& key, const internal::LaunchRequest& request);
  // Sends the zygote of `key` what it can take of its queue.
  void Pump(Zygote& zygote, const std::string& key);
  enum class Sent { kOk, kZygoteGone, kLaunchFailed };
  Sent SendFork(Zygote& zygote, Launch& launch, std::string& error);
  void OnZygoteReadable(const std::string& key, pid_t pid);
  void OnForked(Zygote& zygote, std::uint64_t id, Frame frame);
  void OnSandboxByte(std::uint64_t id);
  // The zygote of `key` is gone (its socket closed, or it was reaped): a start failure before it
  // was ready, a death after.
  void Ended(const std::string& key);
  // The zygote of `key` could not start: every launch waiting for it fails with `why`.
  void StartFailed(const std::string& key, const std::string& why);
  // The zygote of `key` ended or stopped answering (`why`: died, unresponsive, aged, reload):
  // it is killed, and its launches go to a fresh one (a fork that a second zygote also left
  // unanswered fails instead, unless `retry_all`).
  void Stop(const std::string& key, const std::string& why, bool retry_all);
  void Finish(std::uint64_t id, StatusOr<LaunchedSandbox> sandbox, bool zygote_failed = false);
  void Fail(std::uint64_t id, const std::string& why, bool zygote_failed = false);

  Done done_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, Launch> launches_;
  std::map<std::string, Zygote> zygotes_;
  // Why the zygote of a key ended, until the next one of that key starts (launcher.proto's
  // LaunchReply.zygote_restarted: the daemon counts restarts by cause).
  std::map<std::string, std::string> ended_;
};

}  // namespace sandboxd

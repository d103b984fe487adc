// One request's run through one fresh sandbox: launch, watch (deadline, output caps, exit),
// then judge every byte that came back before it becomes an answer.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "answers.h"
#include "config.h"
#include "images.h"
#include "launcher_client.h"
#include "log.h"
#include "prepared_request.h"
#include "runner_events.h"
#include "sandbox/init_report.h"
#include "sandboxd.pb.h"
#include "sandboxd/schema.h"
#include "sandboxd/unique_fd.h"
#include "services.h"
#include "slot_lease.h"
#include "status_pipe.h"
#include "zygote_health.h"

namespace sandboxd {

// At exit, once the io threads are gone and before the daemon's parts are destroyed: waits for
// the launches and result checks still under way on their threads (they use the launcher and
// the config), then, after the event loop's handlers (and the executions in them) are gone, for
// the cgroup removals those queued.
void WaitForLaunchesAndChecks();
void WaitForCleanups();

// One sandbox and the one request it serves. The request comes in one way, Run(): to a sandbox
// that is ready for it (a warm one from the WarmPool, launched by Prelaunch before any request
// existed), or to a new one launched for it then, with the request's artifacts, site packages and
// input mounted and passed from the start. Either sandbox is forked from its image's zygote (or
// starts a fresh interpreter with --no-zygotes), and its runner waits for the request on its
// control pipe. A sandbox serves exactly one request and is never reused.
class Execution : public std::enable_shared_from_this<Execution> {
 public:
  // The Execution holds `slot` until it is destroyed, which is after its sandbox is gone.
  Execution(boost::asio::io_context& io, const Services& services, ImageInfo image,
            std::unique_ptr<SlotLease> slot);
  ~Execution();

  // The warm pool's: launches the sandbox before its request exists; `launched` runs once from
  // the io_context with the outcome, `on_idle_exit` if the sandbox ends before it was given a
  // request (a warm sandbox that died).
  void Prelaunch(std::function<void(Status)> launched, std::function<void()> on_idle_exit);
  // Runs `request` in this execution's sandbox: the prelaunched one, or one launched for it now.
  // `done` runs exactly once, from the io_context.
  void Run(PreparedRequest request, AnswerCallback done);
  // Ends the sandbox early (the client went away, or an idle warm sandbox is dropped).
  void Cancel();
  // For a launched sandbox waiting for its request (the warm pool's): whether its init has
  // already exited, asked of the kernel now (the exit's own handler may not have run yet).
  bool SandboxExited() const;
  // Ends the sandbox early with the answer `reason`: `message` (the daemon is stopping).
  void Abort(ErrorCode reason, std::string message);

  unsigned slot() const { return slot_->slot(); }
  const std::string& image_name() const { return image_.name; }

 private:
  struct Stream;
  struct PreparedLaunch;
  // On the launch thread: the sandbox's cgroups, then the launcher's answer.
  StatusOr<LaunchedSandbox> LaunchOnLaunchThread(PreparedLaunch& prepared);
  // On the strand: the sandbox's launch (PrepareLaunch, then the launch thread, then LaunchDone).
  void Launch(std::function<void(Status)> launched);
  // On the strand: the sandbox's pipes, memfds and launch specification (launch_spec_builder.h);
  // a sandbox launched for its request gets the request's files and input from the start.
  Status PrepareLaunch(PreparedLaunch& prepared);
  // On the strand, after the launcher answered (off the io threads) or the preparation failed.
  void LaunchDone(const std::function<void(Status)>& launched, Status status,
                  PreparedLaunch& prepared);
  // A launch that runs past the request's deadline (a zygote still importing, a launcher busy
  // with others) ends the request then; LaunchDone kills what it brings.
  void ArmLaunchDeadline();
  // Sends the request to the launched sandbox and arms its deadline.
  void StartRequest();
  void ReadStream(Stream& stream);
  void ReadStatus();
  // What the status pipe holds now, without waiting (the answer at "done").
  void DrainStatus();
  void OnStreamData(Stream& stream, std::string_view chunk);
  void OnExited();
  // At the runner's "done": seals the output and answers without waiting for the exit.
  void MaybeAnswerAtDone();
  void Kill(ErrorCode reason, std::string message);
  void MaybeFinish();
  void Finish(Answer answer);
  Status SendRequest();
  // The answer the run's own outcome decides (an error), or none when the script ended well and
  // its result must be checked.
  std::optional<Answer> Judge(proto::Stats& stats);
  // Validates the result off the io threads, within the request's deadline, then answers.
  void CheckResultThenFinish(proto::Stats stats);
  Answer Failure(ErrorCode code, const std::string& message, const proto::Stats& stats);
  // This sandbox's fields for a log line, with its request's id once it has one (on the strand).
  LogFields LogContext() const;
  proto::Stats CollectStats();

  boost::asio::io_context& io_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  const Services& services_;
  ImageInfo image_;
  std::unique_ptr<SlotLease> slot_;
  std::string sandbox_id_;
  PreparedRequest request_;
  AnswerCallback done_;
  bool assigned_ = false;
  Status launch_status_;
  std::function<void()> on_idle_exit_;

  UniqueFd control_write_;     // the daemon's end of the runner's control pipe (fd 3)
  UniqueFd input_memfd_;       // the runner's fd 4
  bool input_filled_ = false;  // a cold start passed the request's sealed input at launch
  UniqueFd output_memfd_;
  // init's status pipe: read as it comes, judged at its EOF (status_pipe.h).
  std::unique_ptr<boost::asio::posix::stream_descriptor> status_pipe_;
  std::array<std::byte, 512> status_buffer_{};
  StatusPipeReader status_;
  UniqueFd pidfd_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> pid_watch_;
  std::vector<std::unique_ptr<Stream>> streams_;  // stdout, stderr, events
  boost::asio::steady_timer deadline_;
  std::chrono::steady_clock::time_point launch_start_, launched_, run_start_, run_end_;

  // Where the sandbox is: none asked for yet, with the launcher, or launched (launch_status_
  // says whether it started). A request given while it is launching starts at LaunchDone.
  enum class SandboxState { kNone, kLaunching, kLaunched };
  SandboxState sandbox_ = SandboxState::kNone;
  bool exited_ = false;
  bool finished_ = false;
  bool checking_result_ = false;
  bool sealed_at_done_ = false;
  // Set when the deadline passes during the result's validation; the worker polls it and stops.
  std::shared_ptr<std::atomic<bool>> check_cancel_ = std::make_shared<std::atomic<bool>>(false);
  std::optional<ErrorCode> kill_reason_;
  std::string kill_message_;
  std::uint64_t log_bytes_ = 0;
  RunLog log_;
  RunnerEvents events_;
};

}  // namespace sandboxd

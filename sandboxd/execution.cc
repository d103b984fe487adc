#include "execution.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <nlohmann/json.hpp>
#include <span>
#include <thread>

#include "cgroups.h"
#include "launch_spec_builder.h"
#include "launcher_client.h"
#include "result_check.h"
#include "root_helper.h"
#include "sandbox/sandbox_spec.h"
#include "sandboxd/json_limits.h"
#include "sandboxd/memfd.h"
#include "sandboxd/table.h"
#include "seccomp_policy.h"
#include "text.h"
#include "verdict.h"
#include "zygote_health.h"

namespace sandboxd {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The CPUs online on this host (at least 1).
unsigned HostCpus() {
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<unsigned>(online) : 1U;
}

// Reads what a pipe holds now, without waiting, into a buffer of the caller's (the reactor may be
// reading the same pipe into the stream's own buffer), handing each chunk to `take`, until the
// pipe is empty, at EOF (left for the pipe's asynchronous reader to see), or `take` says stop.
template <std::size_t N, typename Take>
void ReadWhatIsThere(int fd, std::array<std::byte, N>& buffer, Take take) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    if (!take(std::span<const std::byte>(buffer.data(), static_cast<std::size_t>(n)))) return;
  }
}

}  // namespace

struct Execution::Stream {
  proto::LogRecord::Stream kind;
  std::unique_ptr<asio::posix::stream_descriptor> pipe;
  std::array<char, 16 * 1024> buffer{};
  bool eof = false;
};

Execution::Execution(asio::io_context& io, const Services& services, ImageInfo image,
                     std::unique_ptr<SlotLease> slot)
    : io_(io),
      strand_(asio::make_strand(io)),
      services_(services),
      image_(std::move(image)),
      slot_(std::move(slot)),
      deadline_(strand_) {
  sandbox_id_ = "s" + std::to_string(slot_->slot()) + "-" + std::to_string(::getpid()) + "-" +
                std::to_string(Clock::now().time_since_epoch().count());
}

namespace {

// Launches run here, never on an io thread: the launcher answers in milliseconds, but starting an
// image's zygote takes its imports (seconds for the ML image). Each launch blocks its thread in
// LauncherClient::Launch while the launcher works, and the launcher serves several at once (issue
// 24), so several threads: 8 keep a burst of launches (a warm pool refilling, concurrent cold
// starts) in the launcher together, so that one slow launch (a zygote starting, a child slow to
// set up) delays only itself, while the threads themselves cost nothing but their stacks.
constexpr std::size_t kLaunchThreads = 8;
asio::thread_pool& LaunchThread() {
  static auto* pool = new asio::thread_pool(kLaunchThreads);
  return *pool;
}

// Removing a sandbox's cgroups retries for up to ~160 ms while its last processes exit: never
// on an io thread.
asio::thread_pool& CleanupThread() {
  static auto* pool = new asio::thread_pool(1);
  return *pool;
}

}  // namespace

Execution::~Execution() {
  if (pidfd_) KillByPidfd(pidfd_.get());
  if (services_.cgroups != nullptr) {
    asio::post(CleanupThread(),
               [cgroups = services_.cgroups, id = sandbox_id_] { cgroups->Remove(id); });
  }
}

void WaitForLaunchesAndChecks() {
  LaunchThread().join();
  ResultCheckPool().join();
}

void WaitForCleanups() { CleanupThread().join(); }

// What a launch needs between the strand (which prepares it) and the launch thread.
struct Execution::PreparedLaunch {
  internal::LaunchRequest request;
  SandboxFds fds{};
  UniqueFd control_read;
  UniqueFd write_ends[4];
  UniqueFd read_ends[4];
  Clock::time_point start, end;
  LogFields log;  // for the lines of the launch thread, which must not read request_
};

void Execution::Prelaunch(std::function<void(Status)> launched,
                          std::function<void()> on_idle_exit) {
  asio::post(strand_, [self = shared_from_this(), launched = std::move(launched),
                       on_idle_exit = std::move(on_idle_exit)]() mutable {
    self->on_idle_exit_ = std::move(on_idle_exit);
    self->Launch(std::move(launched));
  });
}

void Execution::Run(PreparedRequest request, AnswerCallback done) {
  asio::post(strand_, [self = shared_from_this(), request = std::move(request),
                       done = std::move(done)]() mutable {
    self->request_ = std::move(request);
    self->done_ = std::move(done);
    self->assigned_ = true;
    self->run_start_ = Clock::now();
    if (self->request_.active) self->request_.active->set_sandbox(self->sandbox_id_);
    if (self->sandbox_ == SandboxState::kLaunched) return self->StartRequest();  // a warm one
    self->request_.SetPhase(RequestPhase::kLaunching);
    self->ArmLaunchDeadline();
    if (self->sandbox_ == SandboxState::kNone) self->Launch({});  // LaunchDone starts it
  });
}

void Execution::Launch(std::function<void(Status)> launched) {
  sandbox_ = SandboxState::kLaunching;
  auto prepared = std::make_shared<PreparedLaunch>();
  prepared->log = LogContext();
  if (Status s = PrepareLaunch(*prepared); !s.ok()) return LaunchDone(launched, s, *prepared);
  asio::post(LaunchThread(),
             [self = shared_from_this(), prepared, launched = std::move(launched)]() mutable {
               auto sandbox = self->LaunchOnLaunchThread(*prepared);
               asio::post(self->strand_, [self, prepared, launched = std::move(launched),
                                          sandbox = std::move(sandbox)]() mutable {
                 if (sandbox.ok()) self->pidfd_ = std::move(sandbox->pidfd);
                 self->LaunchDone(launched, sandbox.status(), *prepared);
               });
             });
}

StatusOr<LaunchedSandbox> Execution::LaunchOnLaunchThread(PreparedLaunch& prepared) {
  prepared.start = Clock::now();
  // The cgroups are made here too: a few file system calls each, off the io threads.
  if (services_.cgroups != nullptr) {
    auto procs = services_.cgroups->Create(sandbox_id_, services_.config.limits);
    if (!procs.ok()) return procs.status();
    for (const auto& path : *procs) prepared.request.add_cgroup_procs(path);
  }
  // An image whose zygote could not start lately is launched without one (zygote_health.h): a
  // failed zygote start holds a launch thread and the launcher's work, so it is tried once per
  // backoff period.
  internal::LaunchRequest& request = prepared.request;
  ZygoteHealth& zygotes = *services_.zygote_health;
  if (request.from_zygote() && !zygotes.UseZygote(image_.name, Clock::now()))
    SetSandboxCommand(request, false, request.zygote_module_dir(), image_.preload);
  LogWith(prepared.log, spdlog::level::debug, "sandbox {}: launching{}", sandbox_id_,
          request.from_zygote() ? " from its image's zygote" : "");
  bool zygote_failed = false;
  auto sandbox = services_.launcher->Launch(request, prepared.fds, &zygote_failed);
  if (request.from_zygote() && sandbox.ok()) {
    zygotes.RecordSuccess(image_.name, sandbox->zygote_restarted);
    if (!sandbox->zygote_restarted.empty())
      LogWith(prepared.log, spdlog::level::info, "image {}: its zygote was started again ({})",
              image_.name, sandbox->zygote_restarted);
  }
  if (zygote_failed) {
    // Launches that overlap may see the same failure: only the first one in a period says so.
    if (const auto backoff =
            zygotes.RecordFailure(image_.name, sandbox.status().message(), Clock::now()))
      LogWith(prepared.log, spdlog::level::warn,
              "image {}: its zygote cannot start ({}); for the next {} s its sandboxes start "
              "without one (each starts its own interpreter: ~0.4 s of CPU more per request)",
              image_.name, sandbox.status().message(), backoff->count());
    SetSandboxCommand(request, false, request.zygote_module_dir(), image_.preload);
    sandbox = services_.launcher->Launch(request, prepared.fds);
  }
  prepared.end = Clock::now();
  if (!sandbox.ok())
    LogWith(prepared.log, spdlog::level::warn, "sandbox {}: not launched: {}", sandbox_id_,
            sandbox.status().message());
  return sandbox;
}

Status Execution::PrepareLaunch(PreparedLaunch& prepared) {
  const SandboxLimits& limits = services_.config.limits;
  // fd 3 is a pipe: the runner gets ready (forked from its zygote, or importing numpy and
  // pandas), then blocks until the request is written into it.
  int control[2];
  if (::pipe2(control, O_CLOEXEC) != 0) return {ErrorCode::kInternal, "pipe2 failed"};
  prepared.control_read.reset(control[0]);
  control_write_.reset(control[1]);
  // A sandbox launched for its request gets the request's sealed input as its fd 4 from the
  // start; a warm one an empty memfd, filled at Run.
  if (assigned_) input_memfd_.reset(::fcntl(request_.input_memfd.get(), F_DUPFD_CLOEXEC, 0));
  if (input_memfd_) {
    input_filled_ = true;
  } else {
    auto input = CreateMemfd("sandboxd-input");
    if (!input.ok()) return input.status();
    input_memfd_ = std::move(*input);
  }
  auto output_fd = CreateMemfd("sandboxd-result");
  if (!output_fd.ok()) return output_fd.status();
  output_memfd_ = std::move(*output_fd);

  // Pipes: the daemon keeps the read ends, the sandbox gets the write ends.
  auto& write_ends = prepared.write_ends;
  auto& read_ends = prepared.read_ends;
  for (int i = 0; i < 4; ++i) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return {ErrorCode::kInternal, "pipe2 failed"};
    read_ends[i].reset(p[0]);
    write_ends[i].reset(p[1]);
  }

  const auto& config = services_.config;
  LaunchSpecBuilder spec;
  spec.SandboxId(sandbox_id_)
      .Rootfs(image_.rootfs)
      .RuntimeDir(config.runtime_dir)
      .ArtifactsDir(request_.artifacts_dir)
      .SiteDir(request_.site_dir)
      .Slot(config.sandbox_uid_base, slot_->slot())
      .Limits(limits)
      .Hostname("sandbox")
      .Command(config.zygotes && !config.zygote_module_dir.empty(), config.zygote_module_dir,
               image_.preload);
  for (const char* var :
       {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/sandbox/work", "TMPDIR=/tmp", "LANG=C.UTF-8",
        "LC_ALL=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "MPLBACKEND=Agg"})
    spec.Env(var);
  spec.VisibleResources(VisibleCpus(limits.cpu_percent, HostCpus()), limits.memory_bytes);
  if (const auto policy = services_.seccomp()) spec.SeccompProgram(policy->program());
  auto built = spec.Build();
  if (!built.ok()) return built.status();
  prepared.request = std::move(*built);

  SandboxFds& fds = prepared.fds;
  fds.fd[kControlFd] = prepared.control_read.get();
  fds.fd[kInputFd] = input_memfd_.get();
  fds.fd[kOutputFd] = output_memfd_.get();
  fds.fd[kStdoutFd] = write_ends[0].get();
  fds.fd[kStderrFd] = write_ends[1].get();
  fds.fd[kEventsFd] = write_ends[2].get();
  fds.fd[kStatusFd] = write_ends[3].get();

  return Status::Ok();
}

void Execution::LaunchDone(const std::function<void(Status)>& launched, Status status,
                           PreparedLaunch& prepared) {
  sandbox_ = SandboxState::kLaunched;
  launch_status_ = std::move(status);
  if (launch_status_.ok()) {
    launch_start_ = prepared.start;
    launched_ = prepared.end;
    status_pipe_ =
        std::make_unique<asio::posix::stream_descriptor>(strand_, prepared.read_ends[3].release());
    ReadStatus();
    const proto::LogRecord::Stream kinds[3] = {proto::LogRecord::STDOUT, proto::LogRecord::STDERR,
                                               proto::LogRecord::LOGGING};
    for (int i = 0; i < 3; ++i) {
      auto stream = std::make_unique<Stream>();
      stream->kind = kinds[i];
      stream->pipe = std::make_unique<asio::posix::stream_descriptor>(
          strand_, prepared.read_ends[i].release());
      streams_.push_back(std::move(stream));
    }
    for (auto& stream : streams_) ReadStream(*stream);
    // The pidfd turns readable when init exits; asio owns a duplicate.
    pid_watch_ = std::make_unique<asio::posix::stream_descriptor>(
        strand_, ::fcntl(pidfd_.get(), F_DUPFD_CLOEXEC, 0));
    pid_watch_->async_wait(
        asio::posix::stream_descriptor::wait_read,
        [self = shared_from_this()](const boost::system::error_code&) { self->OnExited(); });
  } else {
    exited_ = true;
    status_.Ended();
  }
  if (launched) launched(launch_status_);
  // Cancelled or aborted while it was being launched: it ends now.
  if (kill_reason_ && pidfd_ && !exited_) Kill(*kill_reason_, kill_message_);
  // A request that came while it launched, unless the launch's deadline answered it already.
  if (assigned_ && !finished_) StartRequest();
}

void Execution::ArmLaunchDeadline() {
  deadline_.expires_at(request_.received + std::chrono::milliseconds(request_.limits.timeout_ms));
  deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->sandbox_ != SandboxState::kLaunching || self->finished_) return;
    self->Kill(ErrorCode::kTimeout, "no sandbox could be started within the time limit");
    self->Finish(ErrorAnswer(self->request_.request_id, ErrorCode::kTimeout,
                             "no sandbox could be started within the time limit of " +
                                 FormatMillis(self->request_.limits.timeout_ms) +
                                 ": this node is busy; retry later"));
  });
}

void Execution::StartRequest() {
  auto self = shared_from_this();
  if (!launch_status_.ok())
    return Finish(
        ErrorAnswer(request_.request_id, launch_status_.code(), launch_status_.message()));
  if (exited_)
    return Finish(ErrorAnswer(request_.request_id, ErrorCode::kInternal,
                              "the sandbox ended before its request arrived"));
  if (Status s = SendRequest(); !s.ok()) {
    Kill(s.code(), s.message());
    return;
  }
  request_.SetPhase(RequestPhase::kRunning);
  deadline_.expires_at(request_.received + std::chrono::milliseconds(request_.limits.timeout_ms));
  deadline_.async_wait([self](const boost::system::error_code& ec) {
    if (ec || self->exited_) return;
    self->Kill(ErrorCode::kTimeout, "the script ran past its time limit of " +
                                        FormatMillis(self->request_.limits.timeout_ms) +
                                        " and was stopped");
  });
  MaybeFinish();
}

Status Execution::SendRequest() {
  const auto& req = request_;
  if (services_.cgroups != nullptr &&
      req.limits.memory_bytes < services_.config.limits.memory_bytes) {
    if (Status s = services_.cgroups->LowerMemoryLimit(sandbox_id_, req.limits.memory_bytes);
        !s.ok())
      return {ErrorCode::kInternal, "lowering the sandbox's memory limit: " + s.message()};
  }
  // A warm sandbox got an empty input memfd at launch: fill it before the runner may read it.
  if (!input_filled_) {
    auto mapped = MappedFile::Map(req.input_memfd.get(), req.input_bytes);
    if (!mapped.ok()) return mapped.status();
    auto bytes = mapped->bytes();
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::pwrite(input_memfd_.get(), bytes.data() + done, bytes.size() - done,
                                 static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        return {ErrorCode::kInternal,
                std::string("copying the input table into the sandbox: ") + std::strerror(errno)};
      done += static_cast<std::size_t>(n);
    }
  }

  // The control document the runner reads on fd 3.
  nlohmann::json control;
  control["script"] = req.script;
  control["kargs"] = nlohmann::json::parse(req.kargs_json);
  auto& columns = control["output_columns"] = nlohmann::json::array();
  for (const auto& c : req.output_columns)
    columns.push_back({{"name", c.name}, {"type", std::string(ColumnTypeName(c.type))}});
  control["max_result_bytes"] = req.limits.max_result_bytes;
  control["site_dir"] = "/sandbox/site";
  control["artifacts_dir"] = "/sandbox/work/Temp";
  auto text = std::make_shared<std::string>(control.dump());
  // Written asynchronously: a script of megabytes does not fit a pipe, and the runner reads it
  // while we write. Closing the pipe tells the runner the document is whole.
  auto pipe = std::make_shared<asio::posix::stream_descriptor>(strand_, control_write_.release());
  asio::async_write(*pipe, asio::buffer(*text),
                    [pipe, text](const boost::system::error_code&, std::size_t) {
                      boost::system::error_code ignored;
                      pipe->close(ignored);
                    });
  return Status::Ok();
}

bool Execution::SandboxExited() const {
  // pidfd_ is set on the strand before the sandbox is handed out and reset only by the
  // destructor, so it is stable here.
  if (!pidfd_) return true;
  pollfd pfd{pidfd_.get(), POLLIN, 0};
  return ::poll(&pfd, 1, 0) != 0;
}

void Execution::Cancel() {
  asio::post(strand_, [self = shared_from_this()] {
    if (!self->exited_ && self->sandbox_ != SandboxState::kNone)
      self->Kill(ErrorCode::kInternal, "the client went away");
  });
}

void Execution::Abort(ErrorCode reason, std::string message) {
  asio::post(strand_, [self = shared_from_this(), reason, message = std::move(message)]() mutable {
    if (self->finished_) return;
    if (self->checking_result_) {
      // The sandbox is gone and its result is being checked: that stops too.
      self->check_cancel_->store(true, std::memory_order_relaxed);
      return self->Finish(ErrorAnswer(self->request_.request_id, reason, message));
    }
    if (!self->exited_ && self->sandbox_ != SandboxState::kNone) self->Kill(reason, message);
    // The shutdown answers at once: the killed sandbox's exit (and with it the verdict) can take
    // longer than the shutdown's grace on a loaded node. Its slot is freed when it is gone.
    if (self->assigned_) self->Finish(ErrorAnswer(self->request_.request_id, reason, message));
  });
}

void Execution::Kill(ErrorCode reason, std::string message) {
  if (!kill_reason_) {
    kill_reason_ = reason;
    kill_message_ = std::move(message);
  }
  // Killing init tears down the whole pid namespace; the cgroup catches anything else.
  if (pidfd_) KillByPidfd(pidfd_.get());
  if (services_.cgroups != nullptr) services_.cgroups->Kill(sandbox_id_);
}

void Execution::ReadStream(Stream& stream) {
  stream.pipe->async_read_some(
      asio::buffer(stream.buffer),
      [self = shared_from_this(), &stream](const boost::system::error_code& ec, std::size_t n) {
        if (ec) {
          stream.eof = true;
          self->MaybeFinish();
          return;
        }
        self->OnStreamData(stream, std::string_view(stream.buffer.data(), n));
        self->ReadStream(stream);
      });
}

void Execution::ReadStatus() {
  status_pipe_->async_read_some(
      asio::buffer(status_buffer_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        if (ec) {
          self->status_.Ended();
          self->MaybeFinish();
          return;
        }
        self->status_.Feed(std::span(self->status_buffer_.data(), n));
        self->ReadStatus();
      });
}

void Execution::DrainStatus() {
  if (status_.ended() || !status_pipe_) return;
  // The report is one write, so it is read whole by this read or by ReadStatus's.
  std::array<std::byte, sizeof(InitReport) + 1> buffer{};
  ReadWhatIsThere(status_pipe_->native_handle(), buffer, [this](std::span<const std::byte> bytes) {
    status_.Feed(bytes);
    return true;
  });
}

void Execution::OnStreamData(Stream& stream, std::string_view chunk) {
  log_bytes_ += chunk.size();
  if (log_bytes_ > request_.limits.max_log_bytes) {
    log_.truncated = true;
    if (!kill_reason_)
      Kill(ErrorCode::kOutputLimit, "the script wrote more than " +
                                        std::to_string(request_.limits.max_log_bytes) +
                                        " bytes of output and logs; the log is truncated");
    return;
  }
  if (stream.kind != proto::LogRecord::LOGGING) return log_.AppendStream(stream.kind, chunk);
  events_.Feed(chunk, log_);
  if (events_.final_event().kind == "done") MaybeAnswerAtDone();
}

// The runner sends "done" last, after its result and its flushed stdout and stderr; what is left
// of the sandbox's life (the UDF's exit, init's report and its own exit, the namespaces' teardown)
// is milliseconds no answer needs. Once the output memfd is sealed against writes and resizes,
// nothing the sandbox still does can change the result, so the answer goes out now and the
// sandbox is killed; its slot stays taken until it is gone. A sandbox that mapped its output
// writable (the seal fails then) is answered after its exit, as any other.
void Execution::MaybeAnswerAtDone() {
  if (!assigned_ || finished_ || checking_result_ || sealed_at_done_ || exited_ || kill_reason_)
    return;
  if (::fcntl(output_memfd_.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW) != 0)
    return;
  sealed_at_done_ = true;
  run_end_ = Clock::now();
  // What stdout and stderr hold now is the whole of what the runner flushed before "done".
  for (auto& stream : streams_) {
    if (stream->kind == proto::LogRecord::LOGGING || stream->eof) continue;
    std::array<std::byte, 16 * 1024> buffer{};
    ReadWhatIsThere(
        stream->pipe->native_handle(), buffer, [this, &stream](std::span<const std::byte> bytes) {
          OnStreamData(*stream,
                       std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
          return !kill_reason_;
        });
    if (kill_reason_) return;  // over the log cap: answered after the exit, as an error
  }
  proto::Stats stats = CollectStats();
  const FinalEvent& final = events_.final_event();
  if (final.cpu_user_seconds >= 0) stats.set_cpu_user_seconds(final.cpu_user_seconds);
  if (final.cpu_system_seconds >= 0) stats.set_cpu_system_seconds(final.cpu_system_seconds);
  DrainStatus();  // init may have reported already; if not, the answer does not wait for it
  auto answer = Judge(stats);
  // The request is over: whatever the script left running stops with its pid namespace.
  if (pidfd_) KillByPidfd(pidfd_.get());
  if (answer) return Finish(std::move(*answer));
  CheckResultThenFinish(std::move(stats));
}

void Execution::OnExited() {
  exited_ = true;
  run_end_ = Clock::now();
  deadline_.cancel();
  MaybeFinish();
}

void Execution::MaybeFinish() {
  if (finished_ || !exited_ || checking_result_) return;
  for (const auto& s : streams_) {
    if (!s->eof) return;
  }
  // init's report is judged whole only at the status pipe's EOF, whatever order the exit, the
  // streams' EOF and the report's bytes arrive in.
  if (!status_.ended()) {
    if (spdlog::should_log(spdlog::level::debug)) {
      // What a single read now would find (the daemon once judged on exactly that).
      int waiting = 0;
      ::ioctl(status_pipe_->native_handle(), FIONREAD, &waiting);
      LogWith(LogContext(), spdlog::level::debug,
              "sandbox {}: init's exit and its streams' EOF came before its status pipe's EOF ({} "
              "report bytes read, {} in the pipe)",
              sandbox_id_, status_.bytes_read(), waiting);
    }
    return;
  }
  if (!assigned_) {
    // A sandbox that ended while waiting for a request has nobody to answer.
    finished_ = true;
    if (on_idle_exit_) on_idle_exit_();
    return;
  }
  proto::Stats stats = CollectStats();
  if (auto answer = Judge(stats)) return Finish(std::move(*answer));
  CheckResultThenFinish(std::move(stats));
}

void Execution::CheckResultThenFinish(proto::Stats stats) {
  checking_result_ = true;
  request_.SetPhase(RequestPhase::kValidating);
  // The request's deadline still holds: the sandbox is gone, but checking what it left is part
  // of the request. The deadline answers at once and tells the worker to stop.
  deadline_.expires_at(request_.received + std::chrono::milliseconds(request_.limits.timeout_ms));
  deadline_.async_wait([self = shared_from_this(), stats](const boost::system::error_code& ec) {
    if (ec || self->finished_) return;
    self->check_cancel_->store(true, std::memory_order_relaxed);
    self->Finish(
        self->Failure(ErrorCode::kTimeout,
                      "the result table's validation did not finish within the time limit of " +
                          FormatMillis(self->request_.limits.timeout_ms) +
                          "; return a smaller result or raise timeout_ms",
                      stats));
  });
  asio::post(ResultCheckPool(), [self = shared_from_this(), stats = std::move(stats),
                                 memfd = output_memfd_.get(),
                                 max_bytes = request_.limits.max_result_bytes,
                                 columns = request_.output_columns,
                                 cancel = check_cancel_]() mutable {
    auto check = std::make_shared<ResultCheck>(CheckResult(memfd, max_bytes, columns, *cancel));
    // Back on the strand, which owns every other member; `self` moves along, so the Execution
    // is never destroyed on a pool thread.
    auto strand = self->strand_;
    asio::post(strand, [self = std::move(self), stats = std::move(stats), check]() mutable {
      if (self->finished_) return;  // the deadline answered
      self->deadline_.cancel();
      stats.set_wall_seconds(Seconds(Clock::now() - self->request_.received));
      if (!check->status.ok())
        return self->Finish(self->Failure(check->status.code(), check->status.message(), stats));
      Answer answer;
      answer.message.set_version(proto::PROTOCOL_VERSION_1);
      answer.message.set_request_id(self->request_.request_id);
      auto* result = answer.message.mutable_result();
      stats.set_bytes_out(check->size);
      result->mutable_table()->set_size(check->size);
      if (check->sealed) {
        result->mutable_table()->set_memfd_index(0);
        answer.fds.push_back(std::move(check->sealed));
      } else {
        result->mutable_table()->set_inline_data(std::move(check->inline_data));
      }
      for (auto& record : self->log_.records) {
        record.set_message(SanitizeUtf8(record.message()));
        *result->add_logs() = std::move(record);
      }
      result->set_logs_truncated(self->log_.truncated);
      *result->mutable_stats() = stats;
      self->Finish(std::move(answer));
    });
  });
}

void Execution::Finish(Answer answer) {
  finished_ = true;
  if (spdlog::should_log(spdlog::level::debug)) {
    // What the daemon saw when it answered: a rare wrong answer leaves this trace.
    unsigned open_streams = 0;
    for (const auto& stream : streams_) open_streams += stream->eof ? 0U : 1U;
    const auto& message = answer.message;
    LogFields fields = LogContext();
    fields.code =
        message.has_error() ? std::string(proto::ErrorCode_Name(message.error().code())) : "OK";
    LogWith(fields, spdlog::level::debug,
            "request '{}' (sandbox {}): answered {}; {}; init {}, {} output streams open, status "
            "report {} bytes{}{}",
            request_.request_id, sandbox_id_,
            message.has_error() ? fields.code + ": " + message.error().message() : fields.code,
            sealed_at_done_ ? "at the runner's done" : "after the sandbox ended",
            !launch_status_.ok() ? "never launched" : (exited_ ? "exited" : "running"),
            open_streams, status_.bytes_read(), status_.ended() ? " (pipe at EOF)" : "",
            kill_reason_ ? "; killed: " + kill_message_ : std::string());
  }
  // Exactly one answer, whichever path gets here first.
  if (auto done = std::exchange(done_, nullptr)) done(std::move(answer));
  // Answered: the request no longer counts as unanswered (the drain waits for those), even while
  // its sandbox is still being reaped, and the deadline that would have ended it has nothing to
  // do (its handler holds this execution alive until it fires).
  request_.in_flight.reset();
  request_.active.reset();
  deadline_.cancel();
}

proto::Stats Execution::CollectStats() {
  proto::Stats stats;
  if (launch_start_ < request_.received) {
    // A warm sandbox: it was set up before the request arrived.
    stats.set_queue_seconds(Seconds(run_start_ - request_.received));
    stats.set_setup_seconds(0);
  } else {
    stats.set_queue_seconds(Seconds(launch_start_ - request_.received));
    stats.set_setup_seconds(Seconds(launched_ - launch_start_));
  }
  stats.set_run_seconds(Seconds(run_end_ - run_start_));
  stats.set_wall_seconds(Seconds(Clock::now() - request_.received));
  stats.set_bytes_in(request_.input_bytes);
  return stats;
}

LogFields Execution::LogContext() const {
  LogFields fields;
  fields.request_id = request_.request_id;
  fields.image = image_.name;
  fields.sandbox = sandbox_id_;
  return fields;
}

Answer Execution::Failure(ErrorCode code, const std::string& message, const proto::Stats& stats) {
  Answer answer = ErrorAnswer(request_.request_id, code, message);
  auto* error = answer.message.mutable_error();
  for (auto& record : log_.records) {
    record.set_message(SanitizeUtf8(record.message()));
    *error->add_logs() = record;
  }
  *error->mutable_stats() = stats;
  return answer;
}

std::optional<Answer> Execution::Judge(proto::Stats& stats) {
  // At EOF of the status pipe (MaybeFinish), or what it held at the runner's "done".
  const auto report = status_.report();
  if (report) {
    stats.set_cpu_user_seconds(static_cast<double>(report->user_usec) / 1e6);
    stats.set_cpu_system_seconds(static_cast<double>(report->system_usec) / 1e6);
    stats.set_peak_memory_bytes(report->max_rss_kib * 1024);
  }
  std::optional<CgroupOutcome> cgroup;
  if (services_.cgroups != nullptr) {
    cgroup = services_.cgroups->Outcome(sandbox_id_);
    if (cgroup->peak_memory_bytes > 0) stats.set_peak_memory_bytes(cgroup->peak_memory_bytes);
  }

  RunFacts facts;
  facts.report = report;
  facts.report_bytes = status_.bytes_read();
  facts.cgroup = cgroup;
  facts.kill_reason = kill_reason_;
  facts.kill_message = kill_message_;
  facts.final_event = events_.final_event();
  facts.sealed_at_done = sealed_at_done_;
  facts.memory_limit_bytes = request_.limits.memory_bytes;
  facts.work_limit_bytes = request_.limits.work_bytes;
  const auto verdict = sandboxd::Judge(facts);
  if (!verdict) return std::nullopt;
  return Failure(verdict->code, verdict->message, stats);
}

}  // namespace sandboxd

#include "session.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "input_spill.h"
#include "request.h"
#include "service.h"
#include "status_report.h"
#include "text.h"

namespace sandboxd {
namespace asio = boost::asio;
using asio::local::stream_protocol;

Session::Session(Server& server, stream_protocol::socket socket)
    : server_(server),
      socket_(std::move(socket)),
      reader_(server.services().config.max_frame_bytes, kMaxFdsPerFrame),
      writer_(kMaxQueuedBytes, kMaxQueuedFrames),
      write_timer_(socket_.get_executor()),
      write_timeout_(server.services().config.client_write_timeout_ms),
      frame_timer_(socket_.get_executor()),
      frame_timeout_(server.services().config.client_frame_timeout_ms),
      counters_(server.counters()),
      peer_log_(server.peer_log()) {}

void Session::Start() {
  asio::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->Begin(); });
}

void Session::Send(Answer answer) {
  server_.metrics().RecordAnswer(answer.message);
  if (const auto& message = answer.message; !message.request_id().empty()) {
    LogFields fields = PeerFields(message.request_id());
    fields.code = message.has_error() ? proto::ErrorCode_Name(message.error().code()) : "OK";
    LogWith(fields, spdlog::level::debug, "request '{}': answered {}", message.request_id(),
            fields.code);
  }
  server_.CountUnsentAnswers(1);  // until Queue has it in the writer's count
  asio::dispatch(socket_.get_executor(),
                 [self = shared_from_this(), answer = std::move(answer)]() mutable {
                   self->Queue(std::move(answer));
                 });
}

void Session::AbortExecutions(ErrorCode reason, const std::string& message) {
  std::lock_guard lock(exec_mu_);
  for (auto& [key, weak] : running_) {
    if (auto execution = weak.lock()) execution->Abort(reason, message);
  }
}

Session::~Session() { counters_->unsent_answers -= static_cast<long>(counted_unsent_); }

void Session::Begin() {
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);  // the writer's sendmsg must never wait
  socklen_t len = sizeof(cred_);
  if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred_, &len) != 0 ||
      !PeerAllowed(cred_)) {
    PeerLog(spdlog::level::warn, "refused peer uid={} gid={} pid={}", cred_.uid, cred_.gid,
            cred_.pid);
    Send(ErrorAnswer("", ErrorCode::kBadRequest,
                     "permission denied: uid " + std::to_string(cred_.uid) +
                         " may not use this sandboxd (see allowed_uids / allowed_gids)"));
    CloseAfterFlush();
    return;
  }
  auto admitted = server_.connection_limits().Admit(cred_.uid);
  if (admitted.verdict != ConnectionLimits::Verdict::kAdmitted) {
    const auto& limits = server_.connection_limits();
    const std::string why = admitted.verdict == ConnectionLimits::Verdict::kTotalFull
                                ? "this node has " + std::to_string(limits.max_total()) +
                                      " client connections open (max_connections)"
                                : "uid " + std::to_string(cred_.uid) + " has " +
                                      std::to_string(limits.max_per_uid()) +
                                      " connections open to this node (max_connections_per_uid)";
    PeerLog(spdlog::level::warn, "refused a connection of pid {} (uid {}): {}", cred_.pid,
            cred_.uid, why);
    Send(ErrorAnswer("", ErrorCode::kOverloaded, why + "; close one or retry later"));
    CloseAfterFlush();
    return;
  }
  place_ = std::move(admitted.place);
  ReadLoop();
}

LogFields Session::PeerFields(const std::string& request_id) const {
  LogFields fields;
  fields.request_id = request_id;
  fields.peer_uid = cred_.uid;
  fields.peer_pid = cred_.pid;
  return fields;
}

void Session::CountUnsent() {
  const std::size_t now = writer_.queued_frames();
  counters_->unsent_answers += static_cast<long>(now) - static_cast<long>(counted_unsent_);
  counted_unsent_ = now;
}

void Session::Queue(Answer answer) {
  server_.CountUnsentAnswers(-1);  // Send's count; the writer's queue counts from here
  if (closed_ || closing_) {
    PeerLog(answer.message.request_id(), spdlog::level::info,
            "answer to request '{}' not delivered: the client's connection is closed",
            answer.message.request_id());
    return;
  }
  std::string payload;
  answer.message.SerializeToString(&payload);
  // A queue that was empty starts its no-progress clock now.
  if (writer_.empty()) last_progress_ = std::chrono::steady_clock::now();
  const Status pushed = writer_.Push(payload, std::move(answer.fds));
  CountUnsent();
  if (const Status& s = pushed; !s.ok()) {
    PeerLog(answer.message.request_id(), spdlog::level::warn,
            "closing the connection of pid {} (uid {}): {}; answer to request '{}' dropped",
            cred_.pid, cred_.uid, s.message(), answer.message.request_id());
    return OnClosed();
  }
  Flush();
}

void Session::Flush() {
  if (closed_) return;
  bool progressed = false;
  const Status written = writer_.WriteSome(socket_.native_handle(), progressed);
  CountUnsent();
  if (const Status& s = written; !s.ok()) {
    PeerLog(spdlog::level::info, "connection of pid {} (uid {}): {} answers not delivered: {}",
            cred_.pid, cred_.uid, writer_.queued_frames(), s.message());
    return OnClosed();
  }
  if (progressed) last_progress_ = std::chrono::steady_clock::now();
  if (writer_.empty()) {
    write_timer_.cancel();
    timer_armed_ = false;
    if (closing_) Close();
    return;
  }
  if (!timer_armed_) ArmWriteTimer();
  if (!write_waiting_) {
    write_waiting_ = true;
    socket_.async_wait(stream_protocol::socket::wait_write,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                         self->write_waiting_ = false;
                         if (ec) return;  // closed: the read side or Close saw to it
                         self->Flush();
                       });
  }
}

void Session::ArmWriteTimer() {
  timer_armed_ = true;
  write_timer_.expires_at(last_progress_ + write_timeout_);
  write_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;  // whoever cancelled reset the flag
    self->timer_armed_ = false;
    if (ec || self->closed_ || self->writer_.empty()) return;
    if (std::chrono::steady_clock::now() - self->last_progress_ < self->write_timeout_)
      return self->ArmWriteTimer();
    self->PeerLog(
        spdlog::level::warn,
        "closing the connection of pid {} (uid {}): it read nothing of its answers for {} ms "
        "({} bytes in {} frames unsent)",
        self->cred_.pid, self->cred_.uid, self->write_timeout_.count(),
        self->writer_.queued_bytes(), self->writer_.queued_frames());
    self->OnClosed();
  });
}

bool Session::PeerAllowed(const ucred& cred) const {
  const auto& config = server_.services().config;
  return cred.uid == 0 || cred.uid == ::geteuid() ||
         std::find(config.allowed_uids.begin(), config.allowed_uids.end(), cred.uid) !=
             config.allowed_uids.end() ||
         std::find(config.allowed_gids.begin(), config.allowed_gids.end(), cred.gid) !=
             config.allowed_gids.end();
}

void Session::ReadLoop() {
  socket_.async_wait(stream_protocol::socket::wait_read, [self = shared_from_this()](
                                                             const boost::system::error_code& ec) {
    if (ec) return self->OnClosed();
    if (self->closed_ || self->closing_) return;
    auto state = self->reader_.ReadFrom(self->socket_.native_handle());
    while (self->reader_.HasFrame()) self->Handle(self->reader_.Next());
    if (!state.ok()) {
      // A frame we cannot delimit (oversized, torn): answer, then hang up,
      // since nothing after it can be framed.
      self->Send(ErrorAnswer("", state.status().code(), state.status().message()));
      return self->CloseAfterFlush();
    }
    if (*state == FrameReader::ReadState::kClosed) return self->OnClosed();
    if (self->closed_ || self->closing_) return;  // an answer overflowed the queue
    self->WatchFrameTime();
    self->ReadLoop();
  });
}

void Session::WatchFrameTime() {
  if (!reader_.InFrame()) {
    frame_started_.reset();  // a pending timer finds nothing to time and stops
    return;
  }
  if (frame_started_) return;
  frame_started_ = std::chrono::steady_clock::now();
  if (!frame_timer_armed_) ArmFrameTimer();
}

void Session::ArmFrameTimer() {
  frame_timer_armed_ = true;
  frame_timer_.expires_at(*frame_started_ + frame_timeout_);
  frame_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;  // Close
    self->frame_timer_armed_ = false;
    if (ec || self->closed_ || self->closing_ || !self->frame_started_) return;
    // A later frame began after the one this timer was set for: time that one.
    if (std::chrono::steady_clock::now() < *self->frame_started_ + self->frame_timeout_)
      return self->ArmFrameTimer();
    self->PeerLog(spdlog::level::warn,
                  "closing the connection of pid {} (uid {}): a frame it began did not arrive "
                  "whole within {} ms (client_frame_timeout_ms)",
                  self->cred_.pid, self->cred_.uid, self->frame_timeout_.count());
    self->Send(
        ErrorAnswer("", ErrorCode::kBadRequest,
                    "a frame did not arrive whole within " +
                        FormatMillis(static_cast<std::uint64_t>(self->frame_timeout_.count())) +
                        " (client_frame_timeout_ms); the connection is closed"));
    self->CloseAfterFlush();
  });
}

void Session::Handle(Frame frame) {
  proto::ClientMessage message;
  if (!message.ParseFromString(frame.payload))
    return Send(ErrorAnswer("", ErrorCode::kBadRequest, "the frame is not a valid ClientMessage"));
  if (message.version() != proto::PROTOCOL_VERSION_1)
    return Send(ErrorAnswer("", ErrorCode::kBadRequest,
                            "unsupported protocol version " + std::to_string(message.version()) +
                                " (this daemon speaks 1)"));
  switch (message.body_case()) {
    case proto::ClientMessage::kExecute:
      return Execute(message.execute(), frame.fds);
    case proto::ClientMessage::kListImages:
      return ListImages();
    case proto::ClientMessage::kClearCache:
      return ClearCache(message.clear_cache());
    case proto::ClientMessage::kStatus:
      return Send(StatusAnswer(BuildDaemonStatus(server_)));
    case proto::ClientMessage::kPolicy:
      return Send(PolicyAnswer(BuildPolicyReport(server_)));
    default:
      return Send(ErrorAnswer("", ErrorCode::kBadRequest, "the message has no request in it"));
  }
}

void Session::ClearCache(const proto::ClearCacheRequest& request) {
  Status error;
  ArtifactService* service = server_.artifacts(error);
  if (service == nullptr) return Send(ErrorAnswer("", error.code(), error.message()));
  const std::vector<std::string> urls(request.urls().begin(), request.urls().end());
  Send(CacheClearedAnswer(service->ClearCache(urls)));
}

void Session::ListImages() {
  Send(ImageListAnswer(server_.services().config.default_image, server_.services().images->List()));
}

void Session::Execute(const proto::ExecuteRequest& request, std::vector<UniqueFd>& fds) {
  const std::string id = request.request_id();
  if (server_.draining())
    return Send(ErrorAnswer(id, ErrorCode::kOverloaded,
                            "sandboxd is shutting down and takes no new requests; retry on "
                            "another node or after the restart"));
  auto prepared = PrepareRequest(request, fds, server_.services());
  if (!prepared.ok())
    return Send(ErrorAnswer(id, prepared.status().code(), prepared.status().message()));
  prepared->in_flight = server_.TrackRequest();
  prepared->active = server_.active_requests().Add(id, prepared->image.name, prepared->received);
  if (spdlog::should_log(spdlog::level::debug)) {
    LogFields fields = PeerFields(id);
    fields.image = prepared->image.name;
    LogWith(fields, spdlog::level::debug, "request '{}': accepted (image {}, {} input bytes{}{})",
            id, prepared->image.name, prepared->input_bytes,
            request.external_artifacts().empty()
                ? std::string()
                : fmt::format(", {} artifacts", request.external_artifacts().size()),
            request.debug() ? ", debug" : "");
  }
  std::vector<PlannedArtifact> artifacts;
  if (!request.external_artifacts().empty()) {
    // The callout policy decides before any connection (and before a debug answer).
    Status error;
    ArtifactService* service = server_.artifacts(error);
    if (service == nullptr) return Send(ErrorAnswer(id, error.code(), error.message()));
    auto planned =
        ParseArtifacts({request.external_artifacts().begin(), request.external_artifacts().end()},
                       server_.services().config.artifacts);
    if (!planned.ok())
      return Send(ErrorAnswer(id, planned.status().code(), planned.status().message()));
    if (Status s = service->CheckPolicy(*planned); !s.ok()) {
      PeerLog(id, spdlog::level::info, "request '{}': {}", id, s.message());
      return Send(ErrorAnswer(id, s.code(), s.message()));
    }
    artifacts = std::move(*planned);
  }
  if (request.debug()) return Send(DebugAnswer(request, *prepared));

  auto shared = std::make_shared<PreparedRequest>(std::move(*prepared));
  if (!request.spill_to_disk()) return Continue(std::move(shared), std::move(artifacts), nullptr);
  // spill_to_disk: the input goes into a file on disk first. The copy runs on the spill
  // service's thread (~1 s for 2 GB), never on this io thread; the daemon's memfd goes with it.
  auto self = shared_from_this();
  shared->SetPhase(RequestPhase::kSpilling);
  Status spilling = server_.spill().Submit(
      std::move(shared->input_memfd), shared->input_bytes,
      [self, shared, artifacts, id](StatusOr<SpilledInput> spilled) {
        asio::post(self->socket_.get_executor(), [self, shared, artifacts, id,
                                                  spilled = std::move(spilled)]() mutable {
          if (!spilled.ok()) {
            self->PeerLog(id, spdlog::level::warn, "request '{}': {}", id,
                          spilled.status().message());
            return self->Send(ErrorAnswer(id, spilled.status().code(), spilled.status().message()));
          }
          if (self->IsClosed()) return;  // the file and its budget go with `spilled`
          shared->input_memfd = std::move(spilled->file);
          self->Continue(shared, std::move(artifacts), std::move(spilled->reservation));
        });
      });
  if (!spilling.ok()) {
    Send(ErrorAnswer(id, spilling.code(), spilling.message()));
  }
}

void Session::Continue(std::shared_ptr<PreparedRequest> shared,
                       std::vector<PlannedArtifact> artifacts, std::shared_ptr<const void> spill) {
  const std::string id = shared->request_id;
  if (artifacts.empty()) return Dispatch(std::move(shared), nullptr, std::move(spill));
  // Downloads and bundle checks run on the artifact service's threads; the request goes on to a
  // sandbox once its folder is ready. The folder lives until the answer is sent.
  Status error;
  ArtifactService* service = server_.artifacts(error);
  const auto deadline = shared->received + std::chrono::milliseconds(shared->limits.timeout_ms);
  auto self = shared_from_this();
  const std::string rootfs = shared->image.rootfs;
  shared->SetPhase(RequestPhase::kFetching);
  LogFields log = PeerFields(id);
  log.image = shared->image.name;
  const bool queued = service->Submit(
      std::move(artifacts), rootfs, deadline, std::move(log),
      [self, shared, id, spill](StatusOr<std::shared_ptr<RequestArtifacts>> ready) {
        if (!ready.ok())
          return self->Send(ErrorAnswer(id, ready.status().code(), ready.status().message()));
        if (self->IsClosed()) return;  // nobody to answer; the folder goes with `ready`
        shared->artifacts_dir = (*ready)->temp_dir();
        shared->site_dir = (*ready)->site_dir();
        // Back onto the session's strand, off the download thread.
        asio::post(self->socket_.get_executor(), [self, shared, spill, lease = std::move(*ready)] {
          self->Dispatch(shared, lease, spill);
        });
      });
  if (!queued) {
    Send(ErrorAnswer(id, ErrorCode::kOverloaded,
                     "too many requests are waiting for their artifacts; retry later"));
  }
}

void Session::Dispatch(std::shared_ptr<PreparedRequest> shared,
                       std::shared_ptr<RequestArtifacts> lease, std::shared_ptr<const void> spill) {
  const std::string id = shared->request_id;
  // Its artifacts or its spilled input arrived after the shutdown stopped everything.
  if (server_.aborted())
    return Send(ErrorAnswer(id, ErrorCode::kOverloaded, server_.abort_reason()));
  auto self = shared_from_this();
  // The answer path of every execution: forget it, reply. Its slot is freed when the execution
  // is gone (SlotLease), and the warm pool refills then.
  auto finish = [self, lease, spill](std::uint64_t key) {
    return [self, key, lease, spill](Answer answer) {
      self->Forget(key);
      self->Send(std::move(answer));
    };
  };

  // A warm sandbox when one is ready. Artifacts are mounted at launch, and a warm sandbox got a
  // memfd for its input at launch (the daemon would copy a spilled input back into shared
  // memory), so those start cold, with their input as fd 4 from the start.
  const bool needs_cold_start =
      !shared->artifacts_dir.empty() || !shared->site_dir.empty() || spill != nullptr;
  if (auto* pool = server_.pool(); pool != nullptr && !needs_cold_start) {
    if (auto warm = pool->Take(shared->image.name)) {
      const std::uint64_t key = NextKey();
      Track(key, warm);
      warm->Assign(std::move(*shared), finish(key));
      pool->Fill();
      return;
    }
  }

  // Ends the request at its deadline if it is still queued then.
  auto queue_timer = std::make_shared<asio::steady_timer>(socket_.get_executor());
  auto start = [self, shared, finish, queue_timer](unsigned slot) {
    // The lease owns the slot from here until it is destroyed, whichever way this ends.
    auto slot_lease =
        std::make_unique<SlotLease>(self->server_.shared_admission(), slot, self->server_.Refill());
    asio::post(self->socket_.get_executor(), [queue_timer] { queue_timer->cancel(); });
    // The client left while this waited in the queue: nothing to run, nobody to answer.
    if (self->IsClosed()) return;
    const std::uint64_t key = self->NextKey();
    shared->SetPhase(RequestPhase::kLaunching);
    auto execution = std::make_shared<Execution>(self->server_.io(), self->server_.services(),
                                                 shared->image, std::move(slot_lease));
    self->Track(key, execution);
    LaunchOptions options;
    options.artifacts_dir = shared->artifacts_dir;
    options.site_dir = shared->site_dir;
    options.input_memfd.reset(::fcntl(shared->input_memfd.get(), F_DUPFD_CLOEXEC, 0));
    options.request_id = shared->request_id;
    execution->Launch(std::move(options), [](const Status&) {});  // Assign reports failures
    execution->Assign(std::move(*shared), finish(key));
  };
  // A request still queued when the shutdown stops everything.
  auto abort = [self, shared] {
    self->Send(
        ErrorAnswer(shared->request_id, ErrorCode::kOverloaded, self->server_.abort_reason()));
  };
  shared->SetPhase(RequestPhase::kQueued);  // until `start` has a slot (at once, if one is free)
  const auto submitted = server_.admission().Submit(std::move(start), std::move(abort));
  if (submitted.outcome == Admission::Outcome::kRefused)
    return Send(ErrorAnswer(id, ErrorCode::kOverloaded,
                            "this node is running " +
                                std::to_string(server_.admission().running()) +
                                " sandboxes and its queue is full; retry later"));
  if (submitted.outcome == Admission::Outcome::kQueued) {
    WithdrawAtDeadline(*shared, submitted.ticket, queue_timer);
    // Idle warm sandboxes (of another image, or this one would have been taken) give their
    // slot up to the request that waits.
    if (auto* pool = server_.pool()) pool->YieldIdle(1);
  }
}

void Session::WithdrawAtDeadline(const PreparedRequest& request, std::uint64_t ticket,
                                 const std::shared_ptr<asio::steady_timer>& timer) {
  const std::uint64_t timeout_ms = request.limits.timeout_ms;
  timer->expires_at(request.received + std::chrono::milliseconds(timeout_ms));
  timer->async_wait([self = shared_from_this(), ticket, id = request.request_id,
                     timeout_ms](const boost::system::error_code& ec) {
    if (ec || !self->server_.admission().Withdraw(ticket)) return;  // it started meanwhile
    self->Send(ErrorAnswer(id, ErrorCode::kTimeout,
                           "the request waited " + FormatMillis(timeout_ms) +
                               " (its whole time limit) for a free sandbox: this node is busy; "
                               "retry later or raise timeout_ms"));
  });
}

std::uint64_t Session::NextKey() {
  std::lock_guard lock(exec_mu_);
  return ++last_key_;
}

void Session::Track(std::uint64_t key, const std::shared_ptr<Execution>& execution) {
  std::lock_guard lock(exec_mu_);
  running_[key] = execution;
}

void Session::Forget(std::uint64_t key) {
  std::lock_guard lock(exec_mu_);
  running_.erase(key);
}

bool Session::IsClosed() const { return closed_ || closing_; }

void Session::Close() {
  closed_ = true;
  writer_.Clear();  // with the descriptors of answers nobody will read
  CountUnsent();
  write_timer_.cancel();
  timer_armed_ = false;
  frame_timer_.cancel();
  boost::system::error_code ignored;
  socket_.close(ignored);
  place_.reset();  // the descriptor is gone: the connection's place under the caps goes too
}

void Session::CancelExecutions() {
  // A client that disconnects mid-request takes its sandboxes with it.
  std::lock_guard lock(exec_mu_);
  for (auto& [key, weak] : running_) {
    if (auto execution = weak.lock()) execution->Cancel();
  }
}

void Session::OnClosed() {
  Close();
  CancelExecutions();
}

void Session::CloseAfterFlush() {
  if (closed_) return;
  closing_ = true;
  CancelExecutions();
  if (writer_.empty()) Close();
}

}  // namespace sandboxd

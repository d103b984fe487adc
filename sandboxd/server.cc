#include "server.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <filesystem>
#include <map>
#include <mutex>

#include "answers.h"
#include "frame_writer.h"
#include "input_spill.h"
#include "log.h"
#include "request.h"
#include "sandboxd/framing.h"
#include "service.h"
#include "status_report.h"
#include "text.h"

namespace sandboxd {
namespace asio = boost::asio;
using asio::local::stream_protocol;

// One client connection. Frames are read and answers written on the session's strand; answers
// may come from any execution's thread and are posted there. Writes never block: answers wait in a
// bounded queue (FrameWriter) while the socket is full, so a client that stops reading costs its
// own queue and nothing else; it is closed when the queue overflows or no byte goes out for
// client_write_timeout_ms. A frame that has begun must arrive whole within
// client_frame_timeout_ms. Each connection holds a place under the node's connection caps
// (connection_limits.h) while it is open; the log lines it causes are rate-limited per peer uid.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, stream_protocol::socket socket)
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

  // The accept handler runs outside the session's strand; everything after it runs on it.
  void Start() {
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->Begin(); });
  }

  // From any thread: the answer is queued on the session's strand, in the order of the calls
  // made there.
  void Send(Answer answer) {
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

  // Ends this client's running sandboxes with the answer `reason`: `message` (from any thread).
  void AbortExecutions(ErrorCode reason, const std::string& message) {
    std::lock_guard lock(exec_mu_);
    for (auto& [key, weak] : running_) {
      if (auto execution = weak.lock()) execution->Abort(reason, message);
    }
  }

  ~Session() { counters_->unsent_answers -= static_cast<long>(counted_unsent_); }

 private:
  // What may pile up unread behind one client before it is cut off: far more than the answers
  // of a client that reads them one after another (each at most a few MB: the logs, since
  // results travel in memfds), little next to the node's memory.
  static constexpr std::size_t kMaxQueuedBytes = 64U << 20;
  static constexpr std::size_t kMaxQueuedFrames = 1024;

  void Begin() {
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

  // A log line this client caused: rate-limited per peer uid (peer_log_limiter.h), and the first
  // line through after a pause says how many were dropped. It carries the peer's uid and pid and,
  // for a line about one request, that request's id (log.h).
  template <typename... Args>
  void PeerLog(const std::string& request_id, spdlog::level::level_enum level,
               fmt::format_string<Args...> format, Args&&... args) {
    if (!spdlog::should_log(level)) return;
    const auto suppressed = peer_log_->Admit(cred_.uid);
    if (!suppressed) return;
    LogWith(PeerFields(request_id), level, "{}{}", fmt::format(format, std::forward<Args>(args)...),
            SuppressedNote(*suppressed, cred_.uid));
  }
  template <typename... Args>
  void PeerLog(spdlog::level::level_enum level, fmt::format_string<Args...> format,
               Args&&... args) {
    PeerLog(std::string(), level, format, std::forward<Args>(args)...);
  }

  // The fields of a line about this peer (and one of its requests, if `request_id` is not empty).
  // A request's debug lines (accepted, answered) use them without PeerLog's limit: they follow the
  // requests the daemon took, which its queue bounds, and at debug level every one is wanted.
  LogFields PeerFields(const std::string& request_id) const {
    LogFields fields;
    fields.request_id = request_id;
    fields.peer_uid = cred_.uid;
    fields.peer_pid = cred_.pid;
    return fields;
  }

  // Keeps the server's count of unsent answers in step with the writer's queue.
  void CountUnsent() {
    const std::size_t now = writer_.queued_frames();
    counters_->unsent_answers += static_cast<long>(now) - static_cast<long>(counted_unsent_);
    counted_unsent_ = now;
  }

  void Queue(Answer answer) {
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

  // Writes what the socket takes; waits for writability (never on a thread) for the rest.
  void Flush() {
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

  // Fires client_write_timeout_ms after the last byte that went out, not after the first wait:
  // a slow reader that keeps reading is served, one that stopped is cut off.
  void ArmWriteTimer() {
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

  bool PeerAllowed(const ucred& cred) const {
    const auto& config = server_.services().config;
    return cred.uid == 0 || cred.uid == ::geteuid() ||
           std::find(config.allowed_uids.begin(), config.allowed_uids.end(), cred.uid) !=
               config.allowed_uids.end() ||
           std::find(config.allowed_gids.begin(), config.allowed_gids.end(), cred.gid) !=
               config.allowed_gids.end();
  }

  void ReadLoop() {
    socket_.async_wait(
        stream_protocol::socket::wait_read,
        [self = shared_from_this()](const boost::system::error_code& ec) {
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

  // The clock of a frame starts at its first byte; one that is not whole client_frame_timeout_ms
  // later closes the connection. Between frames nothing is timed: an idle connection may stay.
  void WatchFrameTime() {
    if (!reader_.InFrame()) {
      frame_started_.reset();  // a pending timer finds nothing to time and stops
      return;
    }
    if (frame_started_) return;
    frame_started_ = std::chrono::steady_clock::now();
    if (!frame_timer_armed_) ArmFrameTimer();
  }

  void ArmFrameTimer() {
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

  void Handle(Frame frame) {
    proto::ClientMessage message;
    if (!message.ParseFromString(frame.payload))
      return Send(
          ErrorAnswer("", ErrorCode::kBadRequest, "the frame is not a valid ClientMessage"));
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

  // Like Kusto's `.clear cluster cache external-artifacts`: URLs are matched without their query
  // strings; none means everything.
  void ClearCache(const proto::ClearCacheRequest& request) {
    Status error;
    ArtifactService* service = server_.artifacts(error);
    if (service == nullptr) return Send(ErrorAnswer("", error.code(), error.message()));
    const std::vector<std::string> urls(request.urls().begin(), request.urls().end());
    Send(CacheClearedAnswer(service->ClearCache(urls)));
  }

  void ListImages() {
    Send(ImageListAnswer(server_.services().config.default_image,
                         server_.services().images->List()));
  }

  void Execute(const proto::ExecuteRequest& request, std::vector<UniqueFd>& fds) {
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
              return self->Send(
                  ErrorAnswer(id, spilled.status().code(), spilled.status().message()));
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

  // After the input is where it runs from: fetches the artifacts (if any), then dispatches.
  // `spill` (a spilled input's share of the node's spill budget) lives until the answer is sent.
  void Continue(std::shared_ptr<PreparedRequest> shared, std::vector<PlannedArtifact> artifacts,
                std::shared_ptr<const void> spill) {
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
          asio::post(self->socket_.get_executor(),
                     [self, shared, spill, lease = std::move(*ready)] {
                       self->Dispatch(shared, lease, spill);
                     });
        });
    if (!queued) {
      Send(ErrorAnswer(id, ErrorCode::kOverloaded,
                       "too many requests are waiting for their artifacts; retry later"));
    }
  }

  // Runs a prepared request in a sandbox; `lease` (its artifact folder, if any) and `spill` (its
  // spilled input's budget, if any) live until the answer is sent.
  void Dispatch(std::shared_ptr<PreparedRequest> shared, std::shared_ptr<RequestArtifacts> lease,
                std::shared_ptr<const void> spill) {
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
      auto slot_lease = std::make_unique<SlotLease>(self->server_.shared_admission(), slot,
                                                    self->server_.Refill());
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

  // A request that waits in the queue ends at its deadline (TIMEOUT), never later.
  void WithdrawAtDeadline(const PreparedRequest& request, std::uint64_t ticket,
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

  std::uint64_t NextKey() {
    std::lock_guard lock(exec_mu_);
    return ++last_key_;
  }
  void Track(std::uint64_t key, const std::shared_ptr<Execution>& execution) {
    std::lock_guard lock(exec_mu_);
    running_[key] = execution;
  }
  void Forget(std::uint64_t key) {
    std::lock_guard lock(exec_mu_);
    running_.erase(key);
  }
  // From any thread.
  bool IsClosed() const { return closed_ || closing_; }

  // On the strand, as are the three below.
  void Close() {
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

  void CancelExecutions() {
    // A client that disconnects mid-request takes its sandboxes with it.
    std::lock_guard lock(exec_mu_);
    for (auto& [key, weak] : running_) {
      if (auto execution = weak.lock()) execution->Cancel();
    }
  }

  void OnClosed() {
    Close();
    CancelExecutions();
  }

  // Reads no more and answers nothing new, but delivers what is queued (a refusal, the error
  // about an unframeable frame) before hanging up; the write timeout bounds the wait.
  void CloseAfterFlush() {
    if (closed_) return;
    closing_ = true;
    CancelExecutions();
    if (writer_.empty()) Close();
  }

  Server& server_;
  stream_protocol::socket socket_;
  FrameReader reader_;
  ucred cred_{};
  FrameWriter writer_;
  asio::steady_timer write_timer_;
  const std::chrono::milliseconds write_timeout_;
  std::chrono::steady_clock::time_point last_progress_;
  bool write_waiting_ = false;  // an async_wait(wait_write) is pending
  bool timer_armed_ = false;
  asio::steady_timer frame_timer_;
  const std::chrono::milliseconds frame_timeout_;
  std::optional<std::chrono::steady_clock::time_point> frame_started_;  // of the frame in reading
  bool frame_timer_armed_ = false;
  std::shared_ptr<const void> place_;  // under the connection caps, while the socket is open
  // Set on the strand, read from any thread (IsClosed).
  std::atomic<bool> closed_ = false;
  std::atomic<bool> closing_ = false;  // CloseAfterFlush: only the queued answers go out
  std::mutex exec_mu_;
  std::uint64_t last_key_ = 0;
  std::map<std::uint64_t, std::weak_ptr<Execution>> running_;
  std::size_t counted_unsent_ = 0;  // this session's share of the server's unsent answers
  std::shared_ptr<Server::Counters> counters_;
  std::shared_ptr<PeerLogLimiter> peer_log_;
};

CalloutPolicy& Server::callout_policy() {
  std::lock_guard lock(artifacts_mu_);
  if (!callout_policy_)
    callout_policy_ =
        std::make_shared<CalloutPolicy>(CalloutPolicyPath(services_.config.artifacts));
  return *callout_policy_;
}

ArtifactService* Server::artifacts(Status& error) {
  callout_policy();  // the service checks URLs against the policy `policy show` reports
  std::lock_guard lock(artifacts_mu_);
  if (!artifacts_ && artifacts_error_.ok()) {
    auto service = std::make_unique<ArtifactService>(services_.config.artifacts,
                                                     services_.config.state_dir, callout_policy_);
    if (Status s = service->Start(); !s.ok()) {
      spdlog::error("external artifacts are unavailable: {}", s.message());
      artifacts_error_ = Status(ErrorCode::kInternal,
                                "external artifacts are unavailable on this node: " + s.message());
    } else {
      artifacts_ = std::move(service);
    }
  }
  error = artifacts_error_;
  return artifacts_.get();
}

namespace {

// Each peer uid may cause a burst of log lines, then one a second (peer_log_limiter.h).
constexpr unsigned kPeerLogBurst = 20;
constexpr auto kPeerLogInterval = std::chrono::seconds(1);
// At the descriptor limit: one warning per this period, with what was refused meanwhile.
constexpr auto kFdLimitLogInterval = std::chrono::seconds(10);
// The pause before accepting again after a failed accept: from the first to the last, doubling.
constexpr auto kFirstAcceptBackoff = std::chrono::milliseconds(100);
constexpr auto kLastAcceptBackoff = std::chrono::milliseconds(1000);
// Connections refused with the reserve descriptor per failed accept: the backlog drains with
// answers, a bounded amount of work per pause.
constexpr unsigned kMaxRefusalsPerPause = 64;
// Descriptors the daemon needs beside its client connections (sandboxes' pipes, pidfds, memfds,
// the launcher, artifacts): max_connections should leave this much of RLIMIT_NOFILE free.
constexpr rlim_t kDescriptorHeadroom = 1024;

UniqueFd OpenReserveDescriptor() { return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

// A whole frame sent with one non-blocking send: into a fresh connection's empty socket buffer a
// small frame always fits; a peer that cannot take it is not waited for.
void SendRefusal(int fd, const std::string& payload) {
  std::string frame(4 + payload.size(), '\0');
  const auto length = static_cast<std::uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) frame[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  frame.replace(4, payload.size(), payload);
  (void)::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

Server::~Server() = default;

Server::Server(asio::io_context& io, const Services& services)
    : io_(io),
      services_(services),
      admission_(
          std::make_shared<Admission>(services.config.max_sandboxes, services.config.max_queue)),
      accept_strand_(asio::make_strand(io)),
      acceptor_(accept_strand_),
      accept_retry_timer_(accept_strand_),
      fd_limit_log_(1, kFdLimitLogInterval),
      connection_limits_(services.config.max_connections, services.config.max_connections_per_uid),
      peer_log_(std::make_shared<PeerLogLimiter>(kPeerLogBurst, kPeerLogInterval)),
      spill_(services.config.spill_dir.empty() ? services.config.state_dir + "/spill"
                                               : services.config.spill_dir,
             services.config.max_spill_bytes) {}

std::function<void()> Server::Refill() {
  return [weak = std::weak_ptr<WarmPool>(pool_)] {
    if (auto pool = weak.lock()) pool->Fill();
  };
}

void Server::StartWarmPool() {
  const auto& config = services_.config;
  if (config.warm_sandboxes == 0) return;
  auto image = services_.images->Find(config.default_image);
  if (!image.ok()) {
    spdlog::warn("no warm pool: {}", image.status().message());
    return;
  }
  pool_ = std::make_shared<WarmPool>(io_, services_, admission_, std::move(*image),
                                     config.warm_sandboxes);
  pool_->Fill();
}

Status Server::Listen() {
  const std::string& path = services_.config.socket_path;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  ::unlink(path.c_str());
  boost::system::error_code bec;
  acceptor_.open(stream_protocol(), bec);
  if (!bec) acceptor_.bind(stream_protocol::endpoint(path), bec);
  if (!bec) acceptor_.listen(asio::socket_base::max_listen_connections, bec);
  if (!bec) acceptor_.non_blocking(true, bec);  // the refusals at EMFILE accept without waiting
  if (bec) return {ErrorCode::kInternal, "cannot listen on " + path + ": " + bec.message()};
  // Made now, not at the limit: the refusal needs no allocation of a message then.
  ErrorAnswer("", ErrorCode::kOverloaded,
              "sandboxd is at its descriptor limit (too many connections are open); retry later")
      .message.SerializeToString(&refusal_payload_);
  reserve_fd_ = OpenReserveDescriptor();
  if (!reserve_fd_.valid())
    return {ErrorCode::kInternal, "cannot open /dev/null (the reserve descriptor)"};
  if (rlimit nofile{}; ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
                       nofile.rlim_cur != RLIM_INFINITY &&
                       nofile.rlim_cur < services_.config.max_connections + kDescriptorHeadroom) {
    spdlog::warn(
        "max_connections ({}) leaves less than {} of the descriptor limit ({}, RLIMIT_NOFILE) to "
        "sandboxes: a flood of connections can reach the limit first (then new connections are "
        "refused OVERLOADED); raise LimitNOFILE or lower max_connections",
        services_.config.max_connections, kDescriptorHeadroom, nofile.rlim_cur);
  }
  // Access is decided by SO_PEERCRED; the mode only keeps strangers from connecting at all.
  ::chmod(
      path.c_str(),
      services_.config.allowed_gids.empty() && services_.config.allowed_uids.empty() ? 0600 : 0666);
  Accept();
  return Status::Ok();
}

void Server::BeginDrain() {
  draining_ = true;
  asio::dispatch(accept_strand_, [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    accept_retry_timer_.cancel();
  });
  if (pool_) pool_->Drain();
}

void Server::AbortAll(const std::string& why) {
  std::vector<std::shared_ptr<Session>> sessions;
  {
    std::lock_guard lock(sessions_mu_);
    abort_reason_ = why;
    for (auto& weak : sessions_) {
      if (auto session = weak.lock()) sessions.push_back(std::move(session));
    }
  }
  aborted_ = true;
  const unsigned unanswered = counters_->in_flight;
  const unsigned queued = admission_->AbortQueued();
  for (auto& session : sessions) session->AbortExecutions(ErrorCode::kOverloaded, why);
  spdlog::warn("stopping {} unanswered requests ({} of them queued): {}", unanswered, queued, why);
}

std::string Server::abort_reason() const {
  std::lock_guard lock(sessions_mu_);
  return abort_reason_;
}

std::shared_ptr<const void> Server::TrackRequest() {
  ++counters_->in_flight;
  return {nullptr, [counters = counters_](const void*) { --counters->in_flight; }};
}

void Server::Accept() {
  // The handler runs on accept_strand_ (the acceptor's executor); each session on a strand of its
  // own.
  acceptor_.async_accept(asio::make_strand(io_), [this](const boost::system::error_code& ec,
                                                        stream_protocol::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      if (!draining_) OnAcceptError(ec);
      return;
    }
    // Out of a pause at the descriptor limit: said at most once a period (the limit may come and
    // go with each connection that closes).
    if (accept_backoff_.count() != 0 && refused_at_fd_limit_ > 0 &&
        fd_limit_log_.Admit(1).has_value()) {
      spdlog::info("accepting connections again; {} were refused at the descriptor limit",
                   refused_at_fd_limit_);
      refused_at_fd_limit_ = 0;
    }
    accept_backoff_ = std::chrono::milliseconds(0);
    if (!reserve_fd_.valid()) reserve_fd_ = OpenReserveDescriptor();
    auto session = std::make_shared<Session>(*this, std::move(socket));
    AddSession(session);
    session->Start();  // taken during a drain: its requests are answered OVERLOADED
    if (!draining_) Accept();
  });
}

void Server::OnAcceptError(const boost::system::error_code& ec) {
  const int error = ec.value();
  // Errors of one waiting connection (reset before it was taken) or of one call: the next
  // connection is taken at once.
  if (error == ECONNABORTED || error == EINTR || error == EAGAIN || error == EPROTO ||
      error == EPERM) {
    Accept();
    return;
  }
  const bool descriptor_limit = error == EMFILE || error == ENFILE;
  unsigned refused = 0;
  if (descriptor_limit) {
    refused = RefuseAtDescriptorLimit();
    refused_at_fd_limit_ += refused;
  }
  accept_backoff_ = accept_backoff_.count() == 0
                        ? kFirstAcceptBackoff
                        : std::min(2 * accept_backoff_, kLastAcceptBackoff);
  if (fd_limit_log_.Admit(0).has_value()) {  // once a period
    if (descriptor_limit) {
      spdlog::warn(
          "accept: {} (at the descriptor limit, {} client connections open): new connections "
          "are refused OVERLOADED ({} so far), accepting again in {} ms",
          ec.message(), connection_limits_.total(), refused_at_fd_limit_, accept_backoff_.count());
    } else {
      spdlog::warn("accept: {}; accepting again in {} ms", ec.message(), accept_backoff_.count());
    }
  }
  accept_retry_timer_.expires_after(accept_backoff_);
  accept_retry_timer_.async_wait([this](const boost::system::error_code& timer_ec) {
    if (timer_ec || draining_) return;
    Accept();
  });
}

MetricsGauges Server::SampleGauges() {
  MetricsGauges gauges;
  gauges.running = admission_->running();
  gauges.queued = admission_->queued();
  gauges.max_sandboxes = services_.config.max_sandboxes;
  if (pool_) gauges.ready_by_image[pool_->image()] = pool_->ready();
  if (services_.launcher != nullptr) gauges.launcher_restarts = services_.launcher->restarts();
  if (services_.zygote_health != nullptr)
    gauges.zygote_restarts = services_.zygote_health->Restarts();
  for (const auto& request : active_requests().List())
    ++gauges.requests_by_image_phase[{request.image, std::string(RequestPhaseName(request.phase))}];
  std::lock_guard lock(artifacts_mu_);
  if (artifacts_) {
    const auto stats = artifacts_->cache_stats();
    gauges.artifact_caches["downloads"] = stats.downloads;
    gauges.artifact_caches["bundles"] = stats.bundles;
  }
  return gauges;
}

// Frees the reserve descriptor, takes what waits in the backlog (a bounded number) and answers
// each OVERLOADED, then takes the reserve back: a client learns to retry instead of hanging.
unsigned Server::RefuseAtDescriptorLimit() {
  const std::string& payload = refusal_payload_;
  reserve_fd_.reset();
  unsigned refused = 0;
  while (refused < kMaxRefusalsPerPause) {
    UniqueFd client(
        ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!client.valid()) break;  // none waiting, or the freed descriptor was taken meanwhile
    SendRefusal(client.get(), payload);
    ++refused;
  }
  reserve_fd_ = OpenReserveDescriptor();  // retried after each accept if it failed here
  return refused;
}

// The list serves AbortAll; ended sessions are dropped when it has doubled since the last time,
// so an accept costs O(1) amortized, not a scan of every session.
void Server::AddSession(const std::shared_ptr<Session>& session) {
  std::lock_guard lock(sessions_mu_);
  sessions_.push_back(session);
  if (sessions_.size() >= 2 * sessions_after_prune_ + 64) {
    std::erase_if(sessions_, [](const auto& weak) { return weak.expired(); });
    sessions_after_prune_ = sessions_.size();
  }
}

}  // namespace sandboxd

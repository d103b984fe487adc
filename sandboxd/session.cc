#include "session.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/steady_timer.hpp>

#include "pipeline.h"
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
    if (auto pipeline = weak.lock()) pipeline->Abort(reason, message);
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
  const std::uint64_t key = NextKey();
  auto pipeline = std::make_shared<ExecutePipeline>(server_, shared_from_this(), key);
  Track(key, pipeline);
  pipeline->Start(request, fds);
}

std::uint64_t Session::NextKey() {
  std::lock_guard lock(exec_mu_);
  return ++last_key_;
}

void Session::Track(std::uint64_t key, const std::shared_ptr<ExecutePipeline>& pipeline) {
  std::lock_guard lock(exec_mu_);
  running_[key] = pipeline;
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
    if (auto pipeline = weak.lock()) pipeline->Cancel();
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

// One client connection of the daemon (server.h accepts them): the peer check (SO_PEERCRED and
// the connection caps), framing with its time bound, the writer with its back-pressure, and
// dispatch by message type; an Execute request goes on to a pipeline of its own (pipeline.h; see
// docs/ARCHITECTURE.md, "The flow of one Execute request").
//
// Frames are read and answers written on the session's strand; answers may come from any
// execution's thread and are posted there. Writes never block: answers wait in a bounded queue
// (FrameWriter) while the socket is full, so a client that stops reading costs its own queue and
// nothing else; it is closed when the queue overflows or no byte goes out for
// client_write_timeout_ms. A frame that has begun must arrive whole within
// client_frame_timeout_ms. Each connection holds a place under the node's connection caps
// (connection_limits.h) while it is open; the log lines it causes are rate-limited per peer uid.
#pragma once

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "answers.h"
#include "frame_writer.h"
#include "log.h"
#include "peer_log_limiter.h"
#include "sandboxd.pb.h"
#include "sandboxd/framing.h"
#include "sandboxd/unique_fd.h"
#include "server.h"

namespace sandboxd {

class ExecutePipeline;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, boost::asio::local::stream_protocol::socket socket);

  // The accept handler runs outside the session's strand; everything after it runs on it.
  void Start();

  // From any thread: the answer is queued on the session's strand, in the order of the calls
  // made there.
  void Send(Answer answer);

  // Ends this client's running sandboxes with the answer `reason`: `message` (from any thread).
  void AbortExecutions(ErrorCode reason, const std::string& message);

  // What an Execute request's pipeline (pipeline.h) uses of its session, from any thread: the
  // strand its steps come back to, whether anybody is left to answer, and the session's log
  // lines. Its one answer goes through Forget, then Send.
  boost::asio::any_io_executor executor() { return socket_.get_executor(); }
  bool IsClosed() const;
  void Forget(std::uint64_t key);

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
  LogFields PeerFields(const std::string& request_id) const;

  ~Session();

 private:
  // What may pile up unread behind one client before it is cut off: far more than the answers
  // of a client that reads them one after another (each at most a few MB: the logs, since
  // results travel in memfds), little next to the node's memory.
  static constexpr std::size_t kMaxQueuedBytes = 64U << 20;
  static constexpr std::size_t kMaxQueuedFrames = 1024;

  // On the strand: the peer check and the connection caps, then the read loop.
  void Begin();

  // Keeps the server's count of unsent answers in step with the writer's queue.
  void CountUnsent();

  // On the strand: the answer into the writer's queue; a queue that overflows closes the
  // connection.
  void Queue(Answer answer);

  // Writes what the socket takes; waits for writability (never on a thread) for the rest.
  void Flush();

  // Fires client_write_timeout_ms after the last byte that went out, not after the first wait:
  // a slow reader that keeps reading is served, one that stopped is cut off.
  void ArmWriteTimer();

  bool PeerAllowed(const ucred& cred) const;

  void ReadLoop();

  // The clock of a frame starts at its first byte; one that is not whole client_frame_timeout_ms
  // later closes the connection. Between frames nothing is timed: an idle connection may stay.
  void WatchFrameTime();

  void ArmFrameTimer();

  // One frame: parsed, its version checked, dispatched by message type.
  void Handle(Frame frame);

  // Like Kusto's `.clear cluster cache external-artifacts`: URLs are matched without their query
  // strings; none means everything.
  void ClearCache(const proto::ClearCacheRequest& request);

  void ListImages();

  // An Execute request: handed, with the descriptors of its frame, to a pipeline of its own
  // (pipeline.h), which this session tracks until its answer (to cancel or abort its sandbox).
  void Execute(const proto::ExecuteRequest& request, std::vector<UniqueFd>& fds);

  std::uint64_t NextKey();
  void Track(std::uint64_t key, const std::shared_ptr<ExecutePipeline>& pipeline);

  // On the strand, as are the three below.
  void Close();

  void CancelExecutions();

  void OnClosed();

  // Reads no more and answers nothing new, but delivers what is queued (a refusal, the error
  // about an unframeable frame) before hanging up; the write timeout bounds the wait.
  void CloseAfterFlush();

  Server& server_;
  boost::asio::local::stream_protocol::socket socket_;
  FrameReader reader_;
  ucred cred_{};
  FrameWriter writer_;
  boost::asio::steady_timer write_timer_;
  const std::chrono::milliseconds write_timeout_;
  std::chrono::steady_clock::time_point last_progress_;
  bool write_waiting_ = false;  // an async_wait(wait_write) is pending
  bool timer_armed_ = false;
  boost::asio::steady_timer frame_timer_;
  const std::chrono::milliseconds frame_timeout_;
  std::optional<std::chrono::steady_clock::time_point> frame_started_;  // of the frame in reading
  bool frame_timer_armed_ = false;
  std::shared_ptr<const void> place_;  // under the connection caps, while the socket is open
  // Set on the strand, read from any thread (IsClosed).
  std::atomic<bool> closed_ = false;
  std::atomic<bool> closing_ = false;  // CloseAfterFlush: only the queued answers go out
  std::mutex exec_mu_;
  std::uint64_t last_key_ = 0;
  std::map<std::uint64_t, std::weak_ptr<ExecutePipeline>> running_;
  std::size_t counted_unsent_ = 0;  // this session's share of the server's unsent answers
  std::shared_ptr<Server::Counters> counters_;
  std::shared_ptr<PeerLogLimiter> peer_log_;
};

}  // namespace sandboxd

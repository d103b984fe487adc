// The daemon's Unix socket server: Boost.Asio, many clients at once, each peer checked with
// SO_PEERCRED, every accepted request answered exactly once.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "active_requests.h"
#include "admission.h"
#include "connection_limits.h"
#include "input_spill.h"
#include "metrics.h"
#include "peer_log_limiter.h"
#include "sandboxd/unique_fd.h"
#include "services.h"
#include "warm_pool.h"

namespace sandboxd {

class Session;
class ArtifactService;
class CalloutPolicy;

class Server {
 public:
  Server(boost::asio::io_context& io, const Services& services);
  // Binds the socket (replacing a stale one) and starts accepting.
  Status Listen();
  // SIGTERM: stops accepting connections, and answers new requests on open ones OVERLOADED;
  // requests already accepted go on.
  void BeginDrain();
  // Ends every accepted request that is not answered yet: running sandboxes are killed and
  // queued requests dropped from the queue, each answered OVERLOADED: `why`.
  void AbortAll(const std::string& why);
  // True when every accepted request has been answered and every answer has gone into its
  // client's socket (or that client is gone).
  bool Idle() const { return counters_->in_flight == 0 && counters_->unsent_answers == 0; }
  unsigned unanswered() const { return counters_->in_flight; }
  bool draining() const { return draining_; }
  bool aborted() const { return aborted_; }
  std::string abort_reason() const;
  // A token held while one accepted request is unanswered (PreparedRequest::in_flight).
  std::shared_ptr<const void> TrackRequest();
  // Sessions count the answers they have yet to write (queued on their strand or in their
  // writer), so the shutdown does not stop the event loop under them.
  void CountUnsentAnswers(long delta) { counters_->unsent_answers += delta; }
  // What sessions and requests count into; shared, since handlers the event loop still holds at
  // exit (and the sessions and executions in them) are destroyed after the Server.
  struct Counters {
    std::atomic<unsigned> in_flight = 0;
    std::atomic<long> unsent_answers = 0;
  };
  const std::shared_ptr<Counters>& counters() const { return counters_; }
  // Launches the warm pool of the default image (config warm_sandboxes; 0 disables it).
  void StartWarmPool();
  WarmPool* pool() { return pool_.get(); }
  // What runs when a slot comes back: the warm pool refills.
  std::function<void()> Refill();
  Admission& admission() { return *admission_; }
  // Shared with every slot lease, which may outlive the Server at exit.
  const std::shared_ptr<Admission>& shared_admission() const { return admission_; }
  boost::asio::io_context& io() { return io_; }
  const Services& services() const { return services_; }
  // The artifact service, started on first use (so daemons that never see an artifact never
  // touch its folders); null with `error` set when it cannot start.
  ArtifactService* artifacts(Status& error);
  // Stages spill_to_disk inputs in files (config spill_dir, max_spill_bytes).
  InputSpill& spill() { return spill_; }
  // Counts every Execute answer as it goes out; the gauges are read at each scrape.
  Metrics& metrics() { return metrics_; }
  MetricsGauges SampleGauges();
  // Caps client connections in all and per peer uid (config max_connections*).
  ConnectionLimits& connection_limits() { return connection_limits_; }
  // Rate-limits the log lines each peer uid causes; shared with sessions that outlive the Server.
  const std::shared_ptr<PeerLogLimiter>& peer_log() const { return peer_log_; }
  // Every accepted, unanswered request and its phase (`sandboxctl status`).
  ActiveRequests& active_requests() { return active_requests_; }
  // The callout policy the artifact service checks URLs against, read on first use (the first
  // request with artifacts, or `sandboxctl policy show`).
  CalloutPolicy& callout_policy();
  std::chrono::steady_clock::time_point started() const { return started_; }
  ~Server();

 private:
  void Accept();
  // An accept that failed: at the descriptor limit the reserve descriptor refuses waiting
  // connections politely; then accepting resumes after a growing pause, never at once.
  void OnAcceptError(const boost::system::error_code& ec);
  unsigned RefuseAtDescriptorLimit();
  void AddSession(const std::shared_ptr<Session>& session);
  boost::asio::io_context& io_;
  const Services& services_;
  std::shared_ptr<Admission> admission_;
  std::shared_ptr<WarmPool> pool_;
  mutable std::mutex sessions_mu_;
  std::vector<std::weak_ptr<Session>> sessions_;
  std::size_t sessions_after_prune_ = 0;  // ended sessions are dropped when the list doubles
  std::shared_ptr<Counters> counters_ = std::make_shared<Counters>();
  Metrics metrics_;
  std::atomic<bool> draining_ = false;
  std::atomic<bool> aborted_ = false;
  std::string abort_reason_;  // under sessions_mu_
  // The acceptor, its retry timer and the reserve descriptor are used on this strand only.
  boost::asio::strand<boost::asio::io_context::executor_type> accept_strand_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_timer_;
  std::chrono::milliseconds accept_backoff_{0};  // 0: the last accept succeeded
  // Opened at start (/dev/null) and freed at EMFILE/ENFILE, so that the daemon can still take a
  // connection to tell it OVERLOADED instead of leaving it hanging in the backlog.
  UniqueFd reserve_fd_;
  std::string refusal_payload_;            // the OVERLOADED answer sent at the descriptor limit
  std::uint64_t refused_at_fd_limit_ = 0;  // since the last line that said so
  PeerLogLimiter fd_limit_log_;  // a line per period: at the descriptor limit (0), out of it (1)
  ConnectionLimits connection_limits_;
  std::shared_ptr<PeerLogLimiter> peer_log_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  ActiveRequests active_requests_;
  std::mutex artifacts_mu_;
  std::shared_ptr<CalloutPolicy> callout_policy_;  // under artifacts_mu_
  std::unique_ptr<ArtifactService> artifacts_;
  Status artifacts_error_;
  InputSpill spill_;
};

}  // namespace sandboxd

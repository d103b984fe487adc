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
#include "service.h"
#include "session.h"

namespace sandboxd {
namespace asio = boost::asio;
using asio::local::stream_protocol;

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

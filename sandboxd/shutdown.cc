#include "shutdown.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <string>

#include "server.h"

namespace sandboxd {
namespace {
// How often the drain looks at what is left: short next to any request, long next to a poll's cost.
constexpr std::chrono::milliseconds kPollInterval{50};
// After the stop, the killed sandboxes' answers go out within milliseconds; this bounds a client
// that does not read them.
constexpr std::chrono::milliseconds kStopGrace{5000};
constexpr std::chrono::milliseconds kSecondSignalGrace{1000};
}  // namespace

Shutdown::Shutdown(boost::asio::io_context& io, Server& server, std::chrono::seconds drain_timeout)
    : io_(io),
      server_(server),
      drain_timeout_(drain_timeout),
      signals_(io, SIGTERM, SIGINT),
      poll_(io) {}

void Shutdown::Watch() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    OnSignal(signal);
    Watch();
  });
}

void Shutdown::OnSignal(int signal) {
  switch (phase_) {
    case Phase::kServing:
      phase_ = Phase::kDraining;
      spdlog::info(
          "signal {}: draining ({} requests unanswered; up to {} s, then they are stopped)", signal,
          server_.unanswered(), drain_timeout_.count());
      sd_notify(0, "STOPPING=1");
      server_.BeginDrain();
      drain_deadline_ = std::chrono::steady_clock::now() + drain_timeout_;
      return Poll();
    case Phase::kDraining:
      spdlog::info("signal {} again: stopping at once", signal);
      return StopRemaining(
          "sandboxd was told to stop at once (a second signal) while this request was unanswered; "
          "retry it on another node or after the restart",
          kSecondSignalGrace);
    case Phase::kStopping:
      spdlog::info("signal {} again: exiting without waiting for the last answers", signal);
      return io_.stop();
  }
}

void Shutdown::StopRemaining(const std::string& why, std::chrono::milliseconds grace) {
  phase_ = Phase::kStopping;
  grace_deadline_ = std::chrono::steady_clock::now() + grace;
  server_.AbortAll(why);
}

void Shutdown::Poll() {
  if (server_.Idle()) return io_.stop();
  const auto now = std::chrono::steady_clock::now();
  if (phase_ == Phase::kDraining && now >= drain_deadline_) {
    StopRemaining(
        "sandboxd is shutting down: this request was still unanswered after the drain "
        "timeout of " +
            std::to_string(drain_timeout_.count()) +
            " s; retry it on another node or after the restart",
        kStopGrace);
  } else if (phase_ == Phase::kStopping && now >= grace_deadline_) {
    spdlog::warn("{} requests still unanswered after the stop; exiting without them",
                 server_.unanswered());
    return io_.stop();
  }
  poll_.expires_after(kPollInterval);
  poll_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) Poll();
  });
}

}  // namespace sandboxd

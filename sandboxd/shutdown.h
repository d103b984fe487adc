// The daemon's stop on SIGTERM/SIGINT, bounded: a first signal drains (no new connections or
// requests; what was accepted may finish for drain_timeout_s), then whatever is still running or
// queued is stopped and answered OVERLOADED; a second signal does that at once. The event loop
// stops when every accepted request is answered and its answer written, or after a short grace
// for the answers of stopped requests, so the unit's TimeoutStopSec is never what ends it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

namespace sandboxd {

class Server;

class Shutdown {
 public:
  Shutdown(boost::asio::io_context& io, Server& server, std::chrono::seconds drain_timeout);
  // Waits for SIGTERM and SIGINT (call once, before the event loop runs).
  void Watch();

 private:
  enum class Phase { kServing, kDraining, kStopping };
  void OnSignal(int signal);
  // Stops what is left: `why` is what each stopped request is told.
  void StopRemaining(const std::string& why, std::chrono::milliseconds grace);
  void Poll();

  boost::asio::io_context& io_;
  Server& server_;
  const std::chrono::seconds drain_timeout_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer poll_;
  Phase phase_ = Phase::kServing;
  std::chrono::steady_clock::time_point drain_deadline_, grace_deadline_;
};

}  // namespace sandboxd

// The HTTP endpoint Prometheus scrapes: GET /metrics on a configured local TCP address
// (`metrics_listen`, e.g. "127.0.0.1:9464"), answered from the event loop with what `render`
// returns. It reads nothing but a request line and headers (bounded in bytes and time), and
// serves a few connections at a time: a scraper, not a client of the daemon's.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

#include "sandboxd/status.h"

namespace sandboxd {

class MetricsEndpoint : public std::enable_shared_from_this<MetricsEndpoint> {
 public:
  // `listen` is "host:port" with a numeric IPv4 or IPv6 ("[::1]:9464") address.
  static StatusOr<std::shared_ptr<MetricsEndpoint>> Start(boost::asio::io_context& io,
                                                          const std::string& listen,
                                                          std::function<std::string()> render);
  // The address it listens on (with the port the kernel chose for port 0).
  std::string address() const;
  void Stop();

 private:
  MetricsEndpoint(boost::asio::io_context& io, std::function<std::string()> render)
      : acceptor_(io), render_(std::move(render)) {}
  void Accept();

  boost::asio::ip::tcp::acceptor acceptor_;
  std::function<std::string()> render_;
  std::shared_ptr<std::atomic<int>> open_connections_ = std::make_shared<std::atomic<int>>(0);
};

}  // namespace sandboxd

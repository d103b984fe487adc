// The daemon's Unix socket server: Boost.Asio, many clients at once, each peer checked with
// SO_PEERCRED, every accepted request answered exactly once.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <memory>
#include <set>
#include <string>

#include "admission.h"
#include "execution.h"

namespace sandboxd {

class Session;

class Server {
 public:
  Server(boost::asio::io_context& io, const Services& services);
  // Binds the socket (replacing a stale one) and starts accepting.
  Status Listen();
  // Stops accepting; running requests finish.
  void StopAccepting();
  Admission& admission() { return admission_; }
  boost::asio::io_context& io() { return io_; }
  const Services& services() const { return services_; }

 private:
  void Accept();
  boost::asio::io_context& io_;
  const Services& services_;
  Admission admission_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
};

}  // namespace sandboxd

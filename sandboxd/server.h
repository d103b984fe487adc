// The daemon's Unix socket server: Boost.Asio, many clients at once, each peer checked with
// SO_PEERCRED, every accepted request answered exactly once.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "admission.h"
#include "execution.h"
#include "input_spill.h"
#include "warm_pool.h"

namespace sandboxd {

class Session;
class ArtifactService;

class Server {
 public:
  Server(boost::asio::io_context& io, const Services& services);
  // Binds the socket (replacing a stale one) and starts accepting.
  Status Listen();
  // Stops accepting; running requests finish.
  void StopAccepting();
  // Launches the warm pool of the default image (config warm_sandboxes; 0 disables it).
  void StartWarmPool();
  WarmPool* pool() { return pool_.get(); }
  Admission& admission() { return admission_; }
  boost::asio::io_context& io() { return io_; }
  const Services& services() const { return services_; }
  // The artifact service, started on first use (so daemons that never see an artifact never
  // touch its folders); null with `error` set when it cannot start.
  ArtifactService* artifacts(Status& error);
  // Stages spill_to_disk inputs in files (config spill_dir, max_spill_bytes).
  InputSpill& spill() { return spill_; }
  ~Server();

 private:
  void Accept();
  boost::asio::io_context& io_;
  const Services& services_;
  Admission admission_;
  std::shared_ptr<WarmPool> pool_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::mutex artifacts_mu_;
  std::unique_ptr<ArtifactService> artifacts_;
  Status artifacts_error_;
  InputSpill spill_;
};

}  // namespace sandboxd

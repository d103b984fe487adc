// One Execute request once it passed its checks (request.h, PrepareRequest), with the node's
// limits applied: what the pipeline (pipeline.h) hands from step to step and then to the
// Execution that runs it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "active_requests.h"
#include "config.h"
#include "images.h"
#include "sandboxd/schema.h"
#include "sandboxd/unique_fd.h"

namespace sandboxd {

// A request that passed validation, with the node's limits applied.
struct PreparedRequest {
  std::string request_id;
  std::vector<ColumnSpec> output_columns;
  std::string script;
  std::string kargs_json;
  ImageInfo image;
  SandboxLimits limits;
  UniqueFd input_memfd;  // sealed SBXT buffer
  std::uint64_t input_bytes = 0;
  std::string artifacts_dir;  // empty: none
  std::string site_dir;       // empty: none
  std::chrono::steady_clock::time_point received;
  // Held from acceptance until the answer is on its way (Server::TrackRequest): the daemon's
  // shutdown waits for every one of them.
  std::shared_ptr<const void> in_flight;
  // Its line in `sandboxctl status`, held as long as in_flight (null in tests without a Server).
  std::shared_ptr<ActiveRequests::Entry> active;
  void SetPhase(RequestPhase phase) const {
    if (active) active->set_phase(phase);
  }
};

}  // namespace sandboxd

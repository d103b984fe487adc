// The answers of `sandboxctl status` (DaemonStatus) and `sandboxctl policy show` (PolicyReport),
// built from the running daemon's own state: what it enforces and runs now, not what its files
// say. Neither names more of a request than its id, image, phase, age and peak memory.
#pragma once

#include "config.h"
#include "sandboxd.pb.h"

namespace sandboxd {

class Server;

proto::DaemonStatus BuildDaemonStatus(Server& server);
proto::PolicyReport BuildPolicyReport(Server& server);
// The node's limits (each per-request one is the default and the maximum a request may lower).
void FillLimitsInForce(const NodeConfig& config, proto::LimitsInForce& limits);

}  // namespace sandboxd

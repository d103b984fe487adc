// Admission checks of one ExecuteRequest: everything the daemon can refuse before a sandbox
// exists is refused here, with BAD_REQUEST (or IMAGE_NOT_FOUND) and a message a user can act on.
#pragma once

#include <cstddef>
#include <vector>

#include "prepared_request.h"
#include "sandboxd.pb.h"
#include "sandboxd/json_limits.h"
#include "sandboxd/unique_fd.h"
#include "services.h"

namespace sandboxd {

// How deep script_parameters may nest arrays and objects (the top-level object is level 1).
// Checked while parsing, before any DOM exists: nlohmann's parser is iterative, but dump() and the
// runner's json.loads recurse once per level, and 100 000 levels overflowed the daemon's stack.
// Far more than a property bag needs; BAD_REQUEST above it (README, "Errors").
inline constexpr std::size_t kMaxScriptParametersDepth = kMaxJsonDepth;

StatusOr<PreparedRequest> PrepareRequest(const proto::ExecuteRequest& request,
                                         std::vector<UniqueFd>& fds, const Services& services);

}  // namespace sandboxd

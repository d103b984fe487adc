// Admission checks of one ExecuteRequest: everything the daemon can refuse before a sandbox
// exists is refused here, with BAD_REQUEST (or IMAGE_NOT_FOUND) and a message a user can act on.
#pragma once

#include <vector>

#include "execution.h"
#include "sandboxd.pb.h"
#include "sandboxd/unique_fd.h"

namespace sandboxd {

StatusOr<PreparedRequest> PrepareRequest(const proto::ExecuteRequest& request,
                                         std::vector<UniqueFd>& fds, const Services& services);

// Debug mode (like Kusto's `set query_python_debug`): runs nothing; answers with the input
// table and a script that reproduces the call on a plain Python installation.
Answer DebugAnswer(const proto::ExecuteRequest& request, const PreparedRequest& prepared);

}  // namespace sandboxd

// The daemon's answers: a DaemonMessage and the descriptors that ride with it, and the helpers
// that build each kind the daemon sends (an error with its code, the debug answer, the answers
// to ListImages, ClearCache, Status and Policy). An Execute request's result is built by its
// Execution (execution.cc), from what its sandbox left.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "images.h"
#include "sandboxd.pb.h"
#include "sandboxd/status.h"
#include "sandboxd/unique_fd.h"

namespace sandboxd {

struct PreparedRequest;

// The answer: a message and the descriptors that ride with it (a large result's memfd).
struct Answer {
  proto::DaemonMessage message;
  std::vector<UniqueFd> fds;
};
using AnswerCallback = std::function<void(Answer)>;

// How long an OVERLOADED answer asks the client to wait before it retries.
inline constexpr std::uint64_t kOverloadRetryMs = 1000;

// An error answer; OVERLOADED ones carry retry_after_ms.
Answer ErrorAnswer(const std::string& request_id, ErrorCode code, const std::string& message);

// Debug mode (like Kusto's `set query_python_debug`): runs nothing; answers with the input
// table and a script that reproduces the call on a plain Python installation.
Answer DebugAnswer(const proto::ExecuteRequest& request, const PreparedRequest& prepared);

// The images this node has (`sandboxctl images`).
Answer ImageListAnswer(const std::string& default_image, const std::vector<ImageInfo>& images);
// ClearCache: how many cache entries went.
Answer CacheClearedAnswer(std::uint64_t entries_removed);
// `sandboxctl status` and `sandboxctl policy show` (status_report.h builds their bodies).
Answer StatusAnswer(proto::DaemonStatus status);
Answer PolicyAnswer(proto::PolicyReport policy);

}  // namespace sandboxd

// The result check: what a sandbox left in its output memfd becomes an answer's table only after
// the SBXT validator has read it against the expected schema, off the io threads, in time
// O(its size) and within the request's deadline (a flag the deadline sets stops it).
#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "sandboxd/schema.h"
#include "sandboxd/status.h"
#include "sandboxd/unique_fd.h"

namespace sandboxd {

// Where results are validated: never on an io thread, whose other sessions would wait.
boost::asio::thread_pool& ResultCheckPool();

// A result as the check leaves it: an error, or the bytes ready to ride with the answer.
struct ResultCheck {
  Status status;
  std::uint64_t size = 0;
  std::string inline_data;  // a small result, sent inline
  UniqueFd sealed;          // a large result: the sandbox's memfd, sealed (or a sealed copy)
};

// Reads nothing but its arguments (it runs on the pool). `cancel` set: it stops with TIMEOUT.
ResultCheck CheckResult(int memfd, std::uint64_t max_result_bytes,
                        const std::vector<ColumnSpec>& columns, const std::atomic<bool>& cancel);

}  // namespace sandboxd

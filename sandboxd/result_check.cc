#include "result_check.h"

#include <algorithm>
#include <thread>

#include "sandboxd/memfd.h"
#include "sandboxd/table.h"

namespace sandboxd {
namespace asio = boost::asio;

namespace {
// Results up to this size travel inline in the answer; larger ones in a sealed memfd.
constexpr std::size_t kInlineResultBytes = 64 * 1024;
}  // namespace

// Leaked on purpose: its threads must not be joined by static destruction while a check still
// polls its flag.
asio::thread_pool& ResultCheckPool() {
  static auto* pool = new asio::thread_pool(std::max(2U, std::thread::hardware_concurrency()));
  return *pool;
}

ResultCheck CheckResult(int memfd, std::uint64_t max_result_bytes,
                        const std::vector<ColumnSpec>& columns, const std::atomic<bool>& cancel) {
  ResultCheck check;
  auto mapped = MappedFile::Map(memfd, max_result_bytes);
  if (!mapped.ok()) {
    check.status =
        mapped.status().code() == ErrorCode::kOutputLimit
            ? Status(ErrorCode::kOutputLimit, "the result " + mapped.status().message())
            : Status(ErrorCode::kInternal, "reading the result: " + mapped.status().message());
    return check;
  }
  TableLimits limits;
  limits.max_bytes = max_result_bytes;
  // The runner has checked the schema; a sandbox is not believed, so the validator checks it
  // again, from the directory, before it reads a value.
  TableView::OpenOptions options;
  options.expected_columns = &columns;
  options.cancel = &cancel;
  auto view = TableView::Open(mapped->bytes(), limits, options);
  if (!view.ok()) {
    switch (view.status().code()) {
      case ErrorCode::kSchemaMismatch:
        check.status =
            Status(ErrorCode::kSchemaMismatch,
                   "the result does not match the output schema: " + view.status().message());
        break;
      case ErrorCode::kTimeout:  // cancelled: the deadline's answer has gone already
        check.status = view.status();
        break;
      default:
        check.status =
            Status(ErrorCode::kScriptError,
                   "the sandbox returned a malformed result table: " + view.status().message());
    }
    return check;
  }
  const auto bytes = mapped->bytes();
  check.size = bytes.size();
  if (bytes.size() <= kInlineResultBytes) {
    check.inline_data.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  } else {
    // A fresh sealed copy: the sandbox's memfd was writable by it and is not handed on.
    auto sealed = CreateSealedMemfd("sandboxd-result", bytes);
    if (!sealed.ok()) {
      check.status = Status(ErrorCode::kInternal, sealed.status().message());
      return check;
    }
    check.sealed = std::move(*sealed);
  }
  return check;
}

}  // namespace sandboxd

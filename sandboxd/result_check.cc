#include "result_check.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
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
  // Sealed before it is read, the memfd cannot change after the check: it then goes to the
  // client as it is, without a copy. The runner's `done` sealed it already; a sandbox that had
  // it mapped writable is gone by now (its result is checked after its exit), so this seals it
  // too. Should sealing fail all the same, the checked bytes are copied as before.
  const bool sealed =
      ::fcntl(memfd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0 ||
      CheckSealed(memfd).ok();
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
  } else if (sealed) {
    check.sealed = UniqueFd(::fcntl(memfd, F_DUPFD_CLOEXEC, 0));
    if (!check.sealed)
      check.status = Status(ErrorCode::kInternal,
                            std::string("passing on the result memfd: ") + std::strerror(errno));
  } else {
    // A fresh sealed copy: the sandbox's memfd could still change and is not handed on.
    auto copy = CreateSealedMemfd("sandboxd-result", bytes);
    if (!copy.ok()) {
      check.status = Status(ErrorCode::kInternal, copy.status().message());
      return check;
    }
    check.sealed = std::move(*copy);
  }
  return check;
}

}  // namespace sandboxd

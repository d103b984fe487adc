// spill_to_disk: a request's input table staged in an unnamed file on a disk filesystem (page
// cache, which the kernel can write back and reclaim) instead of shared memory (which it cannot
// without swap), and handed to the sandbox read-only as its fd 4.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "sandboxd/status.h"
#include "sandboxd/unique_fd.h"

namespace boost::asio {
class thread_pool;
}

namespace sandboxd {

struct SpilledInput {
  // The table for the sandbox: read-only, unlinked from the start (O_TMPFILE), so its blocks go
  // when the last descriptor does. When the spill folder is on tmpfs this is the request's memfd.
  UniqueFd file;
  bool on_disk = false;
  // The file's share of the node's spill budget, returned when the last copy of this is dropped
  // (hold it until the request is answered). Null when nothing was spilled.
  std::shared_ptr<const void> reservation;
};

class InputSpill {
 public:
  // Files go in `dir` (created 0700 on first use); at most `max_bytes` of them at once.
  InputSpill(std::string dir, std::uint64_t max_bytes);
  ~InputSpill();
  InputSpill(const InputSpill&) = delete;
  InputSpill& operator=(const InputSpill&) = delete;

  using Done = std::function<void(StatusOr<SpilledInput>)>;
  // Reserves `bytes` of the budget now (BAD_REQUEST for a table larger than the whole budget,
  // OVERLOADED while other spills hold it) and copies the sealed `memfd` into a spill file on this
  // object's copy thread, which then runs `done`. The copy is a kernel-side copy_file_range (or
  // sendfile) of ~1 s for 2 GB into page cache: too long for an io thread.
  Status Submit(UniqueFd memfd, std::uint64_t bytes, Done done);

  // The copy itself, on the calling thread (Submit's worker; tests).
  StatusOr<SpilledInput> Spill(UniqueFd memfd, std::uint64_t bytes);

  std::uint64_t bytes_in_use() const;
  const std::string& dir() const { return dir_; }

  struct Budget;

 private:
  Status EnsureDir();

  std::string dir_;
  std::uint64_t max_bytes_;
  std::shared_ptr<Budget> budget_;
  std::mutex mu_;
  bool dir_ready_ = false;
  bool warned_tmpfs_ = false;
  // Started on first use: the daemon starts threads only after its launcher is exec'd.
  std::unique_ptr<boost::asio::thread_pool> pool_;
};

}  // namespace sandboxd

#include "input_spill.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <spdlog/spdlog.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "text.h"

namespace sandboxd {
namespace {

Status Errno(const std::string& what) {
  return {ErrorCode::kInternal, "spill_to_disk: " + what + ": " + std::strerror(errno)};
}

// tmpfs and ramfs pages are shared memory: a "spill" there would cost a copy and save nothing.
bool InMemoryFs(const struct statfs& fs) {
  return fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC;
}

// Copies `bytes` from the start of `in` to the start of `out` inside the kernel: copy_file_range
// where the kernel does it between these filesystems, else sendfile (a splice); never through
// a user-space buffer.
Status CopyAll(int in, int out, std::uint64_t bytes) {
  off_t in_off = 0;
  off_t out_off = 0;
  bool use_copy_file_range = true;
  std::uint64_t done = 0;
  while (done < bytes) {
    // sendfile moves at most 0x7ffff000 bytes a call; copy_file_range takes any size_t.
    const std::uint64_t left = bytes - done;
    const auto chunk = static_cast<std::size_t>(
        use_copy_file_range ? left : std::min<std::uint64_t>(left, 0x7ffff000ULL));
    ssize_t n;
    if (use_copy_file_range) {
      n = ::copy_file_range(in, &in_off, out, &out_off, chunk, 0);
      if (n < 0 && done == 0 &&
          (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        use_copy_file_range = false;  // memfd to another filesystem: not on every kernel
        continue;
      }
    } else {
      // out's file position is still 0 here: copy_file_range with offsets never moves it.
      n = ::sendfile(out, in, &in_off, chunk);
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("copying the input table to disk");
    if (n == 0)
      return {ErrorCode::kInternal, "spill_to_disk: the input table ended after " +
                                        std::to_string(done) + " of " + std::to_string(bytes) +
                                        " bytes"};
    done += static_cast<std::uint64_t>(n);
  }
  return Status::Ok();
}

}  // namespace

// The bytes all spill files hold, shared with the reservations so one may outlive the service.
struct InputSpill::Budget {
  std::mutex mu;
  std::uint64_t in_use = 0;
};

namespace {
// One spill file's share of the budget. A real object, not a null pointer with a deleter: the
// server tells spilled requests apart by a non-null reservation.
struct Reservation {
  Reservation(std::shared_ptr<InputSpill::Budget> b, std::uint64_t n)
      : budget(std::move(b)), bytes(n) {}
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  ~Reservation() {
    std::lock_guard lock(budget->mu);
    budget->in_use -= bytes;
  }
  std::shared_ptr<InputSpill::Budget> budget;
  std::uint64_t bytes;
};
}  // namespace

InputSpill::InputSpill(std::string dir, std::uint64_t max_bytes)
    : dir_(std::move(dir)), max_bytes_(max_bytes), budget_(std::make_shared<Budget>()) {}

InputSpill::~InputSpill() {
  // Joins the copy thread; copies not started are dropped with their callbacks.
  if (pool_) pool_->stop();
  if (pool_) pool_->join();
}

std::uint64_t InputSpill::bytes_in_use() const {
  std::lock_guard lock(budget_->mu);
  return budget_->in_use;
}

Status InputSpill::Submit(UniqueFd memfd, std::uint64_t bytes, Done done) {
  if (bytes > max_bytes_)
    return {ErrorCode::kBadRequest,
            "spill_to_disk: the input table of " + FormatBytes(bytes) +
                " is larger than this node's spill limit of " + FormatBytes(max_bytes_) +
                " (max_spill_mb); split the input or send it without spill_to_disk"};
  {
    std::lock_guard lock(budget_->mu);
    if (budget_->in_use + bytes > max_bytes_)
      return {ErrorCode::kOverloaded,
              "spill_to_disk: this node's spill folder holds " + FormatBytes(budget_->in_use) +
                  " of its " + FormatBytes(max_bytes_) + " for other requests; retry later"};
    budget_->in_use += bytes;
  }
  // Returned to the budget when the request lets go of it, whatever way the request ends.
  std::shared_ptr<const void> reservation = std::make_shared<const Reservation>(budget_, bytes);
  {
    std::lock_guard lock(mu_);
    // One thread: copies to one disk gain nothing from running side by side.
    if (!pool_) pool_ = std::make_unique<boost::asio::thread_pool>(1);
  }
  boost::asio::post(*pool_, [this, memfd = std::move(memfd), bytes, done = std::move(done),
                             reservation = std::move(reservation)]() mutable {
    auto spilled = Spill(std::move(memfd), bytes);
    if (spilled.ok() && spilled->on_disk) spilled->reservation = std::move(reservation);
    done(std::move(spilled));
  });
  return Status::Ok();
}

Status InputSpill::EnsureDir() {
  std::lock_guard lock(mu_);
  if (dir_ready_ && ::access(dir_.c_str(), F_OK) == 0) return Status::Ok();
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir_).parent_path(), ec);
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST)
    return Errno("creating the spill folder " + dir_);
  // Only the daemon may look in: the files are unnamed, but the folder is ours alone.
  struct stat st {};
  if (::lstat(dir_.c_str(), &st) != 0) return Errno("stat " + dir_);
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid())
    return {ErrorCode::kInternal,
            "spill_to_disk: " + dir_ + " is not a folder owned by the daemon's user (spill_dir)"};
  if ((st.st_mode & 07777) != 0700 && ::chmod(dir_.c_str(), 0700) != 0)
    return Errno("chmod 0700 " + dir_);
  dir_ready_ = true;
  return Status::Ok();
}

StatusOr<SpilledInput> InputSpill::Spill(UniqueFd memfd, std::uint64_t bytes) {
  if (Status s = EnsureDir(); !s.ok()) return s;
  struct statfs fs {};
  if (::statfs(dir_.c_str(), &fs) != 0) return Errno("statfs " + dir_);
  if (InMemoryFs(fs)) {
    // spill_to_disk is a hint (the answer is the same either way): a node whose spill folder
    // lives in RAM still serves the request, from its memfd, and says so once in its log.
    {
      std::lock_guard lock(mu_);
      if (!std::exchange(warned_tmpfs_, true))
        spdlog::warn(
            "spill_to_disk: {} is on tmpfs/ramfs, which is shared memory; spilled inputs stay in "
            "their memfds (set spill_dir to a folder on a disk filesystem)",
            dir_);
    }
    SpilledInput same;
    same.file = std::move(memfd);
    return same;
  }

  // Unnamed from birth: nothing to clean up after a crash, and no name anyone could open.
  UniqueFd file(::open(dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!file && (errno == EOPNOTSUPP || errno == EISDIR)) {
    // A filesystem without O_TMPFILE: a named file, unlinked before anything is written.
    std::string name = dir_ + "/input-XXXXXX";
    file.reset(::mkostemp(name.data(), O_CLOEXEC));
    if (file) ::unlink(name.c_str());
  }
  if (!file) return Errno("creating a file in " + dir_);
  // Claims the disk blocks up front, so a full disk is one clear error before any copying.
  if (bytes > 0 && ::fallocate(file.get(), 0, 0, static_cast<off_t>(bytes)) != 0 &&
      errno != EOPNOTSUPP)
    return Errno("reserving " + FormatBytes(bytes) + " in " + dir_);
  if (Status s = CopyAll(memfd.get(), file.get(), bytes); !s.ok()) return s;
  // The shared memory can go as soon as the client drops its copy.
  memfd.reset();

  // A read-only descriptor of the same file for the sandbox; the writable one closes here, so
  // the bytes the daemon validated are the bytes the sandbox maps.
  const std::string self_path = "/proc/self/fd/" + std::to_string(file.get());
  UniqueFd read_only(::open(self_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!read_only) return Errno("reopening the spill file read-only");
  struct stat st {};
  if (::fstat(read_only.get(), &st) != 0) return Errno("fstat of the spill file");
  if (static_cast<std::uint64_t>(st.st_size) != bytes)
    return Status(ErrorCode::kInternal, "spill_to_disk: the spill file holds " +
                                            std::to_string(st.st_size) + " bytes, not " +
                                            std::to_string(bytes));
  SpilledInput spilled;
  spilled.file = std::move(read_only);
  spilled.on_disk = true;
  return spilled;
}

}  // namespace sandboxd

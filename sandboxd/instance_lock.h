// What two daemons on one host must not share: the cgroup group their sandboxes live in (a
// daemon removes every stale sandbox cgroup of its group at start) and the host uids of their
// sandbox slots (per-uid kernel budgets, and files owned by them). Each daemon claims both in a
// file of its own in the lock folder, held with flock(2): the kernel lets go of it when the daemon
// dies, however it dies, so a claim is never stale and a crashed daemon's is taken over at once.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "sandboxd/status.h"
#include "sandboxd/unique_fd.h"

namespace sandboxd {

struct InstanceClaim {
  std::string cgroup;           // "v1 group sandboxd", or "v2 /sys/fs/cgroup/...": compared as is
  std::uint32_t uid_first = 0;  // the slots' host uids: [uid_first, uid_first + uid_count)
  std::uint32_t uid_count = 0;
  std::string socket;  // for the message a second daemon gets
};

class InstanceLock {
 public:
  // Claims `claim` in `lock_dir` (created 0755 if missing). Fails, naming the other daemon's pid,
  // socket and what clashes, while a live daemon holds the same cgroup or an overlapping uid
  // range. Claims of dead daemons are removed on the way.
  static StatusOr<InstanceLock> Acquire(const std::string& lock_dir, const InstanceClaim& claim);

  InstanceLock(InstanceLock&&) noexcept = default;
  InstanceLock& operator=(InstanceLock&&) noexcept = default;
  ~InstanceLock();

 private:
  InstanceLock(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  UniqueFd fd_;  // the claim file, flock(LOCK_EX) held while this daemon lives
};

}  // namespace sandboxd

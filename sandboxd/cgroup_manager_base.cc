#include "cgroup_manager_base.h"

#include <unistd.h>

#include <charconv>

namespace sandboxd {
namespace {

constexpr int kRemoveAttempts = 8;       // about 160 ms in all
constexpr int kLastRemoveAttempts = 40;  // about 1.8 s: the daemon's stop waits for nothing else

// Sandbox ids are "s<slot>-<daemon pid>-<ticks>": one whose daemon is another live sandboxd is
// that daemon's, whatever group it sits in (the instance lock keeps groups apart; this keeps a
// daemon from before the lock, or one on another lock folder, safe too).
bool OfLiveDaemon(const std::string& sandbox_id) {
  const std::size_t dash = sandbox_id.find('-');
  if (dash == std::string::npos) return false;
  pid_t pid = 0;
  const char* begin = sandbox_id.data() + dash + 1;
  const auto [end, ec] = std::from_chars(begin, sandbox_id.data() + sandbox_id.size(), pid);
  if (ec != std::errc() || *end != '-' || pid <= 0 || pid == ::getpid()) return false;
  const auto comm = cgroup_files::ReadFile("/proc/" + std::to_string(pid) + "/comm");
  return comm && comm->rfind("sandboxd", 0) == 0;
}

}  // namespace

std::string LimitOrMax(std::uint64_t value) {
  return value == 0 ? std::string("max") : std::to_string(value);
}

void CgroupManagerBase::Remove(const std::string& sandbox_id) {
  if (!cgroup_files::IsSandboxId(sandbox_id)) return;
  KillAndRemove(sandbox_id, kRemoveAttempts);
}

bool CgroupManagerBase::KillAndRemove(const std::string& sandbox_id, int attempts) {
  Kill(sandbox_id);
  const bool gone = RemoveDirs(sandbox_id, attempts);
  std::lock_guard lock(mu_);
  if (gone) {
    pending_.erase(sandbox_id);
  } else {
    pending_.insert(sandbox_id);
  }
  return gone;
}

int CgroupManagerBase::RemoveStale() {
  std::set<std::string> ids;
  for (const auto& parent : Parents()) {
    for (auto& name : cgroup_files::ListSubdirs(parent)) {
      if (cgroup_files::IsSandboxId(name) && !OfLiveDaemon(name)) ids.insert(std::move(name));
    }
  }
  int removed = 0;
  for (const auto& id : ids) removed += KillAndRemove(id, kRemoveAttempts) ? 1 : 0;
  return removed;
}

std::vector<std::string> CgroupManagerBase::Dirs(const std::string& sandbox_id) const {
  std::vector<std::string> dirs;
  for (const auto& parent : Parents()) dirs.push_back(parent + "/" + sandbox_id);
  return dirs;
}

std::vector<std::string> CgroupManagerBase::ProcsFiles(const std::string& sandbox_id) const {
  std::vector<std::string> files;
  for (const auto& dir : Dirs(sandbox_id)) files.push_back(dir + "/cgroup.procs");
  return files;
}

bool CgroupManagerBase::RemoveDirs(const std::string& sandbox_id, int attempts) const {
  bool gone = true;
  for (const auto& dir : Dirs(sandbox_id)) gone = cgfs_->RemoveDir(dir, attempts) && gone;
  return gone;
}

Status CgroupManagerBase::MakeDirs(const std::string& sandbox_id) {
  if (!cgroup_files::IsSandboxId(sandbox_id))
    return {ErrorCode::kInternal, "invalid sandbox id \"" + sandbox_id + "\""};
  for (const auto& dir : Dirs(sandbox_id)) {
    if (int err = cgfs_->MakeDir(dir); err != 0) {
      RemoveDirs(sandbox_id, 1);
      return {ErrorCode::kInternal,
              "cannot create cgroup " + dir + ": " + cgroup_files::ErrnoText(err)};
    }
  }
  return Status::Ok();
}

int CgroupManagerBase::RemoveLeftovers() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    ids.assign(pending_.begin(), pending_.end());
  }
  int left = 0;
  for (const auto& id : ids) left += KillAndRemove(id, kLastRemoveAttempts) ? 0 : 1;
  return left;
}

void CgroupManagerBase::RetryPending() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    ids.assign(pending_.begin(), pending_.end());
  }
  for (const auto& id : ids) {
    if (RemoveDirs(id, 1)) {
      std::lock_guard lock(mu_);
      pending_.erase(id);
    }
  }
}

}  // namespace sandboxd

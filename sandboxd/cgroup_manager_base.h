// What the v1 and v2 cgroup managers share: a sandbox id maps to one directory per hierarchy;
// removal, its retries, and the sweep of what a crashed daemon left.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cgroup_fs.h"
#include "cgroups.h"

namespace sandboxd {

class CgroupManagerBase : public CgroupManager {
 public:
  explicit CgroupManagerBase(std::shared_ptr<const CgroupFs> cgfs) : cgfs_(std::move(cgfs)) {}

  void Remove(const std::string& sandbox_id) override;
  int RemoveStale() override;
  int RemoveLeftovers() override;
  std::vector<std::string> SandboxParents() const override { return Parents(); }

 protected:
  // Directories holding the sandboxes' cgroups (one per hierarchy).
  virtual std::vector<std::string> Parents() const = 0;

  std::vector<std::string> Dirs(const std::string& sandbox_id) const;
  std::vector<std::string> ProcsFiles(const std::string& sandbox_id) const;
  bool RemoveDirs(const std::string& sandbox_id, int attempts) const;
  // Kills what is left in the sandbox's cgroups and removes them (`attempts` rmdirs each); one
  // that stays is remembered for a later try (RetryPending, RemoveLeftovers). Whether it is gone.
  bool KillAndRemove(const std::string& sandbox_id, int attempts);
  // Makes the sandbox's directories, or says why not (and leaves none behind).
  Status MakeDirs(const std::string& sandbox_id);
  // One rmdir for what an earlier Remove could not finish. Its processes were killed then and
  // are only slow to exit (D state), so killing again would just make this call slow.
  void RetryPending();

  std::shared_ptr<const CgroupFs> cgfs_;

 private:
  std::mutex mu_;
  std::set<std::string> pending_;
};

// "max" for 0 (no limit), else the number.
std::string LimitOrMax(std::uint64_t value);

}  // namespace sandboxd

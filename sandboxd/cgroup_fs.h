// The cgroup filesystem as the cgroup managers touch it. The kernel's (KernelCgroupFs) in the
// daemon; tests inject a plain directory that behaves like it (tests/sandboxd/fake_cgroup_fs.h),
// so that no test double lives in production code. Only what differs between the two is virtual:
// writing a control file, reading a cgroup.procs list, removing a cgroup directory, and telling a
// cgroup filesystem from another.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandboxd/status.h"

namespace sandboxd {

class CgroupFs {
 public:
  virtual ~CgroupFs() = default;

  // Whether `path` is on a cgroup filesystem (v1 or v2), and on a cgroup2 one.
  virtual bool IsCgroup(const std::string& path) const = 0;
  virtual bool IsCgroup2(const std::string& path) const = 0;
  // Writes `value` to a control file in one write() (cgroupfs parses each write on its own);
  // 0 or errno.
  virtual int WriteErrno(const std::string& path, std::string_view value) const = 0;
  // The pids a cgroup.procs file lists now (only real pids: never 0 or negative).
  virtual std::vector<pid_t> ReadProcs(const std::string& path) const = 0;
  // Removes one empty cgroup directory; 0 or errno (EBUSY while its processes are leaving).
  virtual int RemoveDirErrno(const std::string& path) const = 0;

  // What the managers build on the above.
  Status Write(const std::string& path, std::string_view value) const;
  // For files a kernel may lack (no swap accounting, an older kernel): absent is fine.
  Status WriteIfPresent(const std::string& path, std::string_view value) const;
  // 0 or errno; an existing directory counts as made.
  int MakeDir(const std::string& path) const;
  // True once `dir` and its child cgroups are gone; rmdir is retried `attempts` times with a
  // short, growing pause while killed processes are still leaving.
  bool RemoveDir(const std::string& dir, int attempts) const;
  // SIGKILLs every pid listed until the lists are empty (a process may fork between the read and
  // the signal). Bounded, so a process stuck in D state cannot hang the caller.
  void KillListed(const std::vector<std::string>& procs_files) const;
};

// The kernel's cgroupfs.
std::shared_ptr<const CgroupFs> KernelCgroupFs();

// Plain file helpers the managers share.
namespace cgroup_files {
std::string ErrnoText(int err);
bool IsDir(const std::string& path);
bool Exists(const std::string& path);
// Ids name directories; one holding "/" or ".." would reach outside the sandboxes' parent.
bool IsSandboxId(const std::string& id);
std::optional<std::string> ReadFile(const std::string& path);
// "key value" lines (memory.events, memory.oom_control).
std::optional<std::uint64_t> ReadKey(const std::string& text, std::string_view key);
std::optional<std::uint64_t> ReadNumber(const std::string& path);
// Real pids in a procs-style list: kill(0) and kill(-1) would hit our process group or every
// process.
std::vector<pid_t> ParsePids(const std::string& text);
std::vector<std::string> ListSubdirs(const std::string& dir);
}  // namespace cgroup_files

}  // namespace sandboxd

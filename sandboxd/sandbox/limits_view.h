// A sandbox's view of its own limits, as LXCFS gives containers: /proc/meminfo tells the memory
// cgroup's limit and what is left of it, /proc/stat and /proc/cpuinfo list as many CPUs as the
// CPU limit grants. Libraries size their work by these files (numpy's memory guards, joblib,
// OpenMP runtimes), and the host's 24 GB and every host CPU would mislead them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "launcher.pb.h"

namespace sandboxd {

// The memory cgroup's limit, usage and statistics files (-1: not opened).
struct MemoryCgroupFds {
  int limit = -1;
  int usage = -1;
  int stat = -1;
  bool v2 = false;
};

// Opens them for the first of the request's cgroups that has a memory controller (v1 or v2), in
// a process that can see the cgroupfs: a launched init before it pivots, or the launcher for a
// zygote's child. The caller owns what it gets.
MemoryCgroupFds OpenMemoryCgroupFiles(const internal::LaunchRequest& request);

class LimitsView {
 public:
  LimitsView() = default;
  ~LimitsView();
  LimitsView(const LimitsView&) = delete;
  LimitsView& operator=(const LimitsView&) = delete;

  // In init, in the sandbox's mount namespace, after `root`/proc is mounted and before
  // `root`/tmp is (a scratch tmpfs is mounted there for a moment and detached again; the files
  // bound from it keep it alive). Returns an error text, or "".
  std::string SetUp(const internal::LaunchRequest& request, const std::string& root);
  // The memory cgroup's files, opened by someone who could see the cgroupfs (the launcher, for a
  // zygote's child); SetUp then opens none itself. Takes them.
  void AdoptCgroupFiles(const MemoryCgroupFds& files);
  // Lets go of every descriptor without closing it (the UDF, forked from init, closed or
  // replaced them all when it placed its own).
  void Forget();
  // Rewrites /proc/meminfo from the memory cgroup's limit, usage and page cache as they are now.
  // The file keeps its length, so a reader never sees half of a shorter one.
  void Refresh();

 private:
  int meminfo_fd_ = -1;  // the file bound over /proc/meminfo; writable only through this fd
  int limit_fd_ = -1;    // the memory cgroup's limit, usage and statistics files (-1: none)
  int usage_fd_ = -1;
  int stat_fd_ = -1;
  bool v2_ = false;
  std::uint64_t request_limit_ = 0;  // the launch's memory limit, when there is no cgroup
  std::uint64_t host_total_ = 0;     // the host's MemTotal, in bytes
};

// The pure parts, for tests. Sizes in bytes; the files say kB, as the kernel's do.
struct MemoryFigures {
  std::uint64_t total = 0, used = 0, cache = 0, shmem = 0, active = 0, inactive = 0;
};
std::string FormatMeminfo(const MemoryFigures& m);
// A cgroup's memory.stat as key -> value.
std::map<std::string, std::uint64_t, std::less<>> ParseKeyValues(std::string_view text);
// The host's /proc/stat and /proc/cpuinfo cut down to `cpus` CPUs (renumbered from 0).
std::string CpuStatView(std::string_view host_stat, unsigned cpus);
std::string CpuinfoView(std::string_view host_cpuinfo, unsigned cpus);

}  // namespace sandboxd

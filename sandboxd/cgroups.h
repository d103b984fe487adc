// Per-sandbox cgroups: memory (swap off), pids and CPU limits, on cgroup v2 (a systemd host with
// Delegate=yes) or on cgroup v1 controllers. One cgroup per sandbox, removed when it ends; the
// OOM killer's verdict is read from the cgroup, never guessed from an exit code.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgroup_fs.h"
#include "config.h"
#include "sandboxd/status.h"

namespace sandboxd {

struct CgroupOutcome {
  bool oom_killed = false;              // memory.events oom_kill (v2) / memory.oom_control (v1)
  std::uint64_t peak_memory_bytes = 0;  // memory.peak (v2) / memory.max_usage_in_bytes (v1)
};

// All methods may be called from several threads at once (for different sandboxes).
class CgroupManager {
 public:
  virtual ~CgroupManager() = default;
  // Creates the sandbox's cgroup with `limits` applied; returns the cgroup.procs file(s) (one per
  // v1 hierarchy) the sandbox's first process is written into before it runs. memory_bytes must
  // be positive; max_pids 0 and cpu_percent 0 mean no limit (cpu_percent 100 is one CPU).
  virtual StatusOr<std::vector<std::string>> Create(const std::string& sandbox_id,
                                                    const SandboxLimits& limits) = 0;
  // Lowers a running sandbox's memory limit (a warm sandbox taking a request that asked for less).
  // Fails when the sandbox already uses more than `bytes`.
  virtual Status LowerMemoryLimit(const std::string& sandbox_id, std::uint64_t bytes) = 0;
  // Kills every process in the sandbox's cgroup (cgroup.kill on v2, each pid on v1).
  virtual void Kill(const std::string& sandbox_id) = 0;
  // Missing files (an old kernel, a cgroup already gone) read as "no OOM kill, peak unknown (0)".
  virtual CgroupOutcome Outcome(const std::string& sandbox_id) = 0;
  // Removes the cgroup (killing what is left first). Safe to call twice. A cgroup whose processes
  // are slow to leave is retried on later calls rather than blocking this one for long.
  virtual void Remove(const std::string& sandbox_id) = 0;
  // Removes sandbox cgroups a crashed daemon left behind; returns how many.
  virtual int RemoveStale() = 0;
  // At the daemon's stop: removes what earlier removals had to leave (processes slow to exit on
  // a loaded machine), killing again and waiting up to ~2 s for each; returns how many remain.
  virtual int RemoveLeftovers() = 0;
  virtual std::string Describe() const = 0;
  // The folders the sandboxes' cgroups are made in (one per hierarchy): what the daemon writes
  // after it dropped root (privilege_drop.h), so they are given to its user.
  virtual std::vector<std::string> SandboxParents()
      const = 0;  // "cgroup v2 at /sys/fs/cgroup/..." for the log
};

// The factories take the filesystem they work on (cgroup_fs.h): the kernel's, or in tests a plain
// directory that behaves like it.

// v2: `root` is a delegated cgroup directory (its cgroup.controllers lists memory, pids, cpu).
// The daemon's own processes are moved into root/daemon (no internal processes) unless `root` is
// the hierarchy's root or `move_self` is false; sandboxes go into root/sandboxes/<id>.
StatusOr<std::unique_ptr<CgroupManager>> CreateCgroupV2Manager(
    const std::string& root, bool move_self,
    std::shared_ptr<const CgroupFs> cgfs = KernelCgroupFs());
// v1: `mount_root` holds the controllers' mounts (memory/, pids/, cpu/ or a co-mount such as
// cpu,cpuacct/); sandboxes go into <controller>/<group>/<id>. The group dirs are created.
StatusOr<std::unique_ptr<CgroupManager>> CreateCgroupV1Manager(
    const std::string& mount_root, const std::string& group,
    std::shared_ptr<const CgroupFs> cgfs = KernelCgroupFs());
// Picks v2 when `configured_root` (or the daemon's own v2 cgroup) is a delegated v2 cgroup with
// the needed controllers, else v1 under /sys/fs/cgroup, else an error saying what is missing.
// `v1_group` names the daemon's group in each v1 hierarchy; daemons on one host need distinct
// groups, since each removes the stale sandboxes of its own group at startup.
StatusOr<std::unique_ptr<CgroupManager>> DetectCgroupManager(const std::string& configured_root,
                                                             const std::string& v1_group);

// Shared by the factories and the detection.
// The mount of a v1 `controller` under `mount_root`: its own name, or a co-mount ("cpu,cpuacct").
std::optional<std::string> FindCgroupV1Hierarchy(const std::string& mount_root,
                                                 std::string_view controller);
// " memory pids" for what a v2 cgroup.controllers text lacks of memory, pids and cpu.
std::string MissingCgroupV2Controllers(const std::string& listed);

}  // namespace sandboxd

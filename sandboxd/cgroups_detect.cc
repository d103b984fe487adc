// Which cgroups the daemon uses: a configured root, else its own delegated v2 cgroup, else the
// v1 controllers under /sys/fs/cgroup; an error that says what is missing otherwise.
#include <sstream>
#include <string>
#include <string_view>

#include "cgroup_fs.h"
#include "cgroups.h"

namespace sandboxd {
namespace {
using namespace cgroup_files;

Status Internal(std::string message) { return {ErrorCode::kInternal, std::move(message)}; }

// The daemon's own cgroup v2 directory, from the "0::/path" line of /proc/self/cgroup.
std::optional<std::string> OwnCgroupV2Path() {
  const auto text = ReadFile("/proc/self/cgroup");
  if (!text) return std::nullopt;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("0::")) return line.substr(3);
  }
  return std::nullopt;
}

}  // namespace

StatusOr<std::unique_ptr<CgroupManager>> DetectCgroupManager(const std::string& configured_root,
                                                             const std::string& v1_group) {
  const auto cgfs = KernelCgroupFs();
  if (!configured_root.empty()) {
    if (Exists(configured_root + "/cgroup.controllers")) {
      if (!cgfs->IsCgroup2(configured_root))
        return Internal("cgroup_root " + configured_root + " is not on a cgroup2 filesystem");
      return CreateCgroupV2Manager(configured_root, /*move_self=*/true);
    }
    if (const auto memory = FindCgroupV1Hierarchy(configured_root, "memory")) {
      if (!cgfs->IsCgroup(*memory))
        return Internal("cgroup_root " + *memory + " is not on a cgroup filesystem");
      return CreateCgroupV1Manager(configured_root, v1_group);
    }
    return Internal("cgroup_root " + configured_root +
                    " is neither a cgroup v2 directory (no cgroup.controllers) nor a cgroup v1 "
                    "mount root (no memory/memory.limit_in_bytes)");
  }

  std::string v2_problem = "no \"0::\" line in /proc/self/cgroup";
  const auto own = OwnCgroupV2Path();
  if (own && *own == "/") {
    v2_problem = "the daemon runs in the cgroup v2 root, not in a delegated cgroup";
  } else if (own) {
    v2_problem = "no cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified";
    for (const std::string mount : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
      if (!cgfs->IsCgroup2(mount)) continue;
      std::string root = mount + *own;
      // An earlier run already moved us into root/daemon; the delegated root is its parent.
      constexpr std::string_view kDaemon = "/daemon";
      const std::string parent = root.substr(0, root.size() - kDaemon.size());
      if (root.ends_with(kDaemon) && IsDir(parent + "/sandboxes")) root = parent;
      const auto controllers = ReadFile(root + "/cgroup.controllers");
      if (!controllers) {
        v2_problem = "cannot read " + root + "/cgroup.controllers";
        continue;
      }
      if (const std::string missing = MissingCgroupV2Controllers(*controllers); !missing.empty()) {
        v2_problem = "the daemon's cgroup v2 " + root + " lacks the" + missing +
                     " controller(s) (no systemd Delegate=yes?)";
        continue;
      }
      auto manager = CreateCgroupV2Manager(root, /*move_self=*/true);
      if (manager.ok()) return manager;
      v2_problem = manager.status().message();
    }
  }

  const std::string v1_root = "/sys/fs/cgroup";
  const auto memory = FindCgroupV1Hierarchy(v1_root, "memory");
  if (memory && cgfs->IsCgroup(*memory)) {
    auto manager = CreateCgroupV1Manager(v1_root, v1_group);
    if (manager.ok()) return manager;
    return Internal("no usable cgroups: " + v2_problem + "; " + manager.status().message());
  }
  return Internal("no usable cgroups: " + v2_problem + "; cgroup v1: no " + v1_root +
                  "/memory/memory.limit_in_bytes");
}

}  // namespace sandboxd

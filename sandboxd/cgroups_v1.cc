// cgroup v1: the memory, pids and cpu controllers mounted apart (or co-mounted); sandboxes go
// into <controller>/<group>/<id>.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>

#include "cgroup_manager_base.h"

namespace sandboxd {
namespace {
namespace fs = std::filesystem;
using namespace cgroup_files;

constexpr std::uint64_t kCpuPeriodUs = 100'000;
constexpr std::uint64_t kCpuSharesPerCpu = 1024;  // cpu.shares of one busy task
constexpr std::string_view kControllers[] = {"memory", "pids", "cpu"};

Status Internal(std::string message) { return {ErrorCode::kInternal, std::move(message)}; }

struct Hierarchy {
  std::string controller;
  std::string dir;  // the controller's mount, e.g. /sys/fs/cgroup/cpu,cpuacct
};

// A file each controller's mount root has (pids.max exists only below the root).
std::string_view MarkerFile(std::string_view controller) {
  if (controller == "memory") return "memory.limit_in_bytes";
  if (controller == "cpu") return "cpu.cfs_quota_us";
  return "cgroup.procs";
}

// The mount of `controller` under `mount_root`: its own name, or a co-mount ("cpu,cpuacct").
}  // namespace

std::optional<std::string> FindCgroupV1Hierarchy(const std::string& mount_root,
                                                 std::string_view controller) {
  const std::string marker(MarkerFile(controller));
  const std::string exact = mount_root + "/" + std::string(controller);
  if (Exists(exact + "/" + marker)) return exact;
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(mount_root, ec)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    std::istringstream parts(name);
    for (std::string part; std::getline(parts, part, ',');) {
      const std::string dir = mount_root + "/" + name;
      if (part == controller && Exists(dir + "/" + marker)) return dir;
    }
  }
  return std::nullopt;
}

namespace {

class V1Manager final : public CgroupManagerBase {
 public:
  V1Manager(std::vector<Hierarchy> hierarchies, std::string group,
            std::shared_ptr<const CgroupFs> cgfs)
      : CgroupManagerBase(std::move(cgfs)),
        hierarchies_(std::move(hierarchies)),
        group_(std::move(group)) {}
  // The daemon's own group goes with it when it is empty (it fails harmlessly otherwise).
  ~V1Manager() override {
    for (const auto& h : hierarchies_) cgfs_->RemoveDirErrno(h.dir + "/" + group_);
  }

  Status LowerMemoryLimit(const std::string& sandbox_id, std::uint64_t bytes) override {
    for (const auto& h : hierarchies_) {
      if (!Has(h, "memory")) continue;
      const std::string dir = h.dir + "/" + group_ + "/" + sandbox_id;
      // Lowering: limit_in_bytes first, so memsw (which may not be below it) can follow.
      Status s = cgfs_->Write(dir + "/memory.limit_in_bytes", std::to_string(bytes));
      if (s.ok())
        s = cgfs_->WriteIfPresent(dir + "/memory.memsw.limit_in_bytes", std::to_string(bytes));
      return s;
    }
    return Status::Ok();
  }

  StatusOr<std::vector<std::string>> Create(const std::string& sandbox_id,
                                            const SandboxLimits& limits) override {
    RetryPending();
    if (limits.memory_bytes == 0) return Internal("a sandbox needs a memory limit (got 0)");
    if (Status s = MakeDirs(sandbox_id); !s.ok()) return s;
    Status s = Status::Ok();
    for (const auto& h : hierarchies_) {
      const std::string dir = h.dir + "/" + group_ + "/" + sandbox_id;
      const std::string memory = std::to_string(limits.memory_bytes);
      if (s.ok() && Has(h, "memory")) {
        s = cgfs_->Write(dir + "/memory.limit_in_bytes", memory);
        // memsw is memory plus swap and may not be below limit_in_bytes: equal means no swap.
        // It is absent when the kernel does not account swap.
        if (s.ok()) s = cgfs_->WriteIfPresent(dir + "/memory.memsw.limit_in_bytes", memory);
        // Without memsw this is what keeps the sandbox out of swap; best effort, as not every
        // kernel lets it be set per cgroup.
        cgfs_->WriteErrno(dir + "/memory.swappiness", "0");
      }
      if (s.ok() && Has(h, "pids"))
        s = cgfs_->Write(dir + "/pids.max", LimitOrMax(limits.max_pids));
      if (s.ok() && Has(h, "cpu")) {
        s = cgfs_->Write(dir + "/cpu.cfs_period_us", std::to_string(kCpuPeriodUs));
        if (s.ok()) s = cgfs_->Write(dir + "/cpu.shares", std::to_string(kCpuSharesPerCpu));
        if (s.ok()) {
          s = cgfs_->Write(dir + "/cpu.cfs_quota_us",
                           limits.cpu_percent == 0
                               ? std::string("-1")
                               : std::to_string(std::uint64_t{limits.cpu_percent} * 1000));
        }
      }
    }
    if (!s.ok()) {
      RemoveDirs(sandbox_id, 1);
      return s;
    }
    return ProcsFiles(sandbox_id);
  }

  void Kill(const std::string& sandbox_id) override {
    if (!IsSandboxId(sandbox_id)) return;
    cgfs_->KillListed(ProcsFiles(sandbox_id));
  }

  CgroupOutcome Outcome(const std::string& sandbox_id) override {
    CgroupOutcome outcome;
    if (!IsSandboxId(sandbox_id)) return outcome;
    for (const auto& h : hierarchies_) {
      if (!Has(h, "memory")) continue;
      const std::string dir = h.dir + "/" + group_ + "/" + sandbox_id;
      // The oom_kill line needs kernel 4.13+; without it an OOM kill cannot be told apart.
      if (const auto control = ReadFile(dir + "/memory.oom_control"))
        outcome.oom_killed = ReadKey(*control, "oom_kill").value_or(0) > 0;
      outcome.peak_memory_bytes = ReadNumber(dir + "/memory.max_usage_in_bytes").value_or(0);
    }
    return outcome;
  }

  std::string Describe() const override {
    std::string text = "cgroup v1 at";
    for (const auto& h : hierarchies_) text += " " + h.dir + "/" + group_;
    return text;
  }

  Status Init() {
    for (const auto& h : hierarchies_) {
      const std::string dir = h.dir + "/" + group_;
      if (int err = cgfs_->MakeDir(dir); err != 0)
        return Internal("cannot create cgroup " + dir + ": " + ErrnoText(err));
      // On v1 the daemon's group sits beside every host process, and a group of default weight
      // counts as one busy task: behind a host build, all the node's sandboxes together would
      // share a fraction of one CPU. Weighed as one busy task per CPU, they get the node's
      // CPUs in proportion to what else runs (systemd's CPUWeight= does this on v2).
      if (Has(h, "cpu")) {
        const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
        const std::uint64_t shares =
            kCpuSharesPerCpu * static_cast<std::uint64_t>(cpus > 0 ? cpus : 1);
        if (Status s = cgfs_->Write(dir + "/cpu.shares", std::to_string(shares)); !s.ok()) return s;
      }
    }
    return Status::Ok();
  }

 private:
  // Co-mounted controllers share one Hierarchy entry, its `controller` listing them all.
  static bool Has(const Hierarchy& h, std::string_view controller) {
    std::istringstream parts(h.controller);
    for (std::string part; std::getline(parts, part, ',');) {
      if (part == controller) return true;
    }
    return false;
  }

  std::vector<std::string> Parents() const override {
    std::vector<std::string> parents;
    for (const auto& h : hierarchies_) parents.push_back(h.dir + "/" + group_);
    return parents;
  }

  std::vector<Hierarchy> hierarchies_;
  std::string group_;
};

}  // namespace

StatusOr<std::unique_ptr<CgroupManager>> CreateCgroupV1Manager(
    const std::string& mount_root, const std::string& group, std::shared_ptr<const CgroupFs> cgfs) {
  if (!IsSandboxId(group)) return Internal("invalid cgroup v1 group name \"" + group + "\"");
  std::vector<Hierarchy> hierarchies;
  std::string missing;
  for (auto controller : kControllers) {
    const auto dir = FindCgroupV1Hierarchy(mount_root, controller);
    if (!dir) {
      missing += " " + mount_root + "/" + std::string(controller) + "/" +
                 std::string(MarkerFile(controller));
      continue;
    }
    // cpu and cpuacct are often symlinks to one "cpu,cpuacct" mount; compare where they lead.
    std::error_code ec;
    const fs::path real = fs::weakly_canonical(*dir, ec);
    auto same = std::find_if(hierarchies.begin(), hierarchies.end(), [&](const Hierarchy& h) {
      std::error_code h_ec;
      return fs::weakly_canonical(h.dir, h_ec) == real;
    });
    if (same != hierarchies.end()) {
      same->controller += "," + std::string(controller);
    } else {
      hierarchies.push_back({std::string(controller), *dir});
    }
  }
  if (!missing.empty()) return Internal("cgroup v1: no controller mount with" + missing);
  for (const auto& h : hierarchies) {
    if (!cgfs->IsCgroup(h.dir)) return Internal(h.dir + " is not on a cgroup filesystem");
  }
  auto manager = std::make_unique<V1Manager>(std::move(hierarchies), group, std::move(cgfs));
  if (Status s = manager->Init(); !s.ok()) return s;
  return std::unique_ptr<CgroupManager>(std::move(manager));
}

}  // namespace sandboxd

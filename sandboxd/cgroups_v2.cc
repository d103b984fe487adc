// cgroup v2: a delegated cgroup (systemd Delegate=yes) whose processes move to root/daemon and
// whose sandboxes go into root/sandboxes/<id>.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "cgroup_manager_base.h"

namespace sandboxd {
namespace {
using namespace cgroup_files;

constexpr std::uint64_t kCpuPeriodUs = 100'000;
// Every sandbox gets the same weight, whatever its thread count, so two that burn CPU in many
// threads get no more of a busy node than one importing pandas; cpu.max only bounds each one.
constexpr std::string_view kSandboxCpuWeight = "100";  // cpu.weight (1..10000)
constexpr std::string_view kSubtreeControl = "+memory +pids +cpu";

Status Internal(std::string message) { return {ErrorCode::kInternal, std::move(message)}; }

std::string TrimmedRight(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text;
}

class V2Manager final : public CgroupManagerBase {
 public:
  V2Manager(std::string root, std::shared_ptr<const CgroupFs> cgfs)
      : CgroupManagerBase(std::move(cgfs)),
        root_(std::move(root)),
        sandboxes_(root_ + "/sandboxes") {}

  Status LowerMemoryLimit(const std::string& sandbox_id, std::uint64_t bytes) override {
    return cgfs_->Write(sandboxes_ + "/" + sandbox_id + "/memory.max", std::to_string(bytes));
  }

  StatusOr<std::vector<std::string>> Create(const std::string& sandbox_id,
                                            const SandboxLimits& limits) override {
    RetryPending();
    if (limits.memory_bytes == 0) return Internal("a sandbox needs a memory limit (got 0)");
    if (Status s = MakeDirs(sandbox_id); !s.ok()) return s;
    const std::string dir = sandboxes_ + "/" + sandbox_id;
    const std::string cpu_max =
        (limits.cpu_percent == 0 ? std::string("max")
                                 : std::to_string(std::uint64_t{limits.cpu_percent} * 1000)) +
        " " + std::to_string(kCpuPeriodUs);
    Status s = cgfs_->Write(dir + "/memory.max", std::to_string(limits.memory_bytes));
    // Swap would let a sandbox hold far more than its limit, and slowly.
    if (s.ok()) s = cgfs_->WriteIfPresent(dir + "/memory.swap.max", "0");
    // Without it the OOM killer takes one process and leaves the rest of the sandbox running.
    if (s.ok()) s = cgfs_->WriteIfPresent(dir + "/memory.oom.group", "1");
    if (s.ok()) s = cgfs_->Write(dir + "/pids.max", LimitOrMax(limits.max_pids));
    if (s.ok()) s = cgfs_->Write(dir + "/cpu.max", cpu_max);
    if (s.ok()) s = cgfs_->Write(dir + "/cpu.weight", kSandboxCpuWeight);
    if (!s.ok()) {
      RemoveDirs(sandbox_id, 1);
      return s;
    }
    return std::vector<std::string>{dir + "/cgroup.procs"};
  }

  void Kill(const std::string& sandbox_id) override {
    if (!IsSandboxId(sandbox_id)) return;
    const std::string dir = sandboxes_ + "/" + sandbox_id;
    if (!IsDir(dir)) return;
    // cgroup.kill (5.14+) kills atomically, forks in flight included; older kernels lack it.
    if (cgfs_->WriteErrno(dir + "/cgroup.kill", "1") == 0) return;
    cgfs_->KillListed({dir + "/cgroup.procs"});
  }

  CgroupOutcome Outcome(const std::string& sandbox_id) override {
    CgroupOutcome outcome;
    if (!IsSandboxId(sandbox_id)) return outcome;
    const std::string dir = sandboxes_ + "/" + sandbox_id;
    if (const auto events = ReadFile(dir + "/memory.events")) {
      outcome.oom_killed = ReadKey(*events, "oom_kill").value_or(0) > 0 ||
                           ReadKey(*events, "oom_group_kill").value_or(0) > 0;
    }
    outcome.peak_memory_bytes = ReadNumber(dir + "/memory.peak").value_or(0);
    return outcome;
  }

  std::string Describe() const override { return "cgroup v2 at " + root_; }

  Status Init(bool move_self) {
    const auto controllers = ReadFile(root_ + "/cgroup.controllers");
    if (!controllers)
      return Internal("cannot read " + root_ + "/cgroup.controllers: not a cgroup v2 directory");
    if (const std::string missing = MissingCgroupV2Controllers(*controllers); !missing.empty()) {
      return Internal("cgroup v2 at " + root_ + " lacks the" + missing +
                      " controller(s) (cgroup.controllers: \"" + TrimmedRight(*controllers) +
                      "\"); the daemon needs a delegated cgroup (systemd Delegate=yes)");
    }
    // The hierarchy's root cgroup is exempt from the no-internal-processes rule, and moving every
    // process of the host into root/daemon is not ours to do.
    const bool is_hierarchy_root = !Exists(root_ + "/cgroup.type");
    if (move_self && !is_hierarchy_root) {
      if (Status s = MoveProcessesToDaemon(); !s.ok()) return s;
    }
    if (Status s = cgfs_->Write(root_ + "/cgroup.subtree_control", kSubtreeControl); !s.ok())
      return s;
    if (int err = cgfs_->MakeDir(sandboxes_); err != 0)
      return Internal("cannot create cgroup " + sandboxes_ + ": " + ErrnoText(err));
    return cgfs_->Write(sandboxes_ + "/cgroup.subtree_control", kSubtreeControl);
  }

 private:
  std::vector<std::string> Parents() const override { return {sandboxes_}; }

  // A cgroup with processes cannot enable controllers for its children, so the daemon (and its
  // launcher) leave root for root/daemon first.
  Status MoveProcessesToDaemon() {
    const std::string daemon = root_ + "/daemon";
    if (int err = cgfs_->MakeDir(daemon); err != 0)
      return Internal("cannot create cgroup " + daemon + ": " + ErrnoText(err));
    for (int round = 0; round < 10; ++round) {  // a process may fork while we move
      const auto pids = cgfs_->ReadProcs(root_ + "/cgroup.procs");
      if (pids.empty()) break;
      for (pid_t pid : pids) {
        const int err = cgfs_->WriteErrno(daemon + "/cgroup.procs", std::to_string(pid) + "\n");
        if (err != 0 && err != ESRCH) {
          return Internal("cannot move pid " + std::to_string(pid) + " into " + daemon +
                          "/cgroup.procs: " + ErrnoText(err));
        }
      }
    }
    return Status::Ok();
  }

  std::string root_;
  std::string sandboxes_;
};

}  // namespace

std::string MissingCgroupV2Controllers(const std::string& listed) {
  std::istringstream words(listed);
  std::set<std::string> have;
  for (std::string word; words >> word;) have.insert(word);
  std::string missing;
  for (auto name : {"memory", "pids", "cpu"}) {
    if (!have.contains(name)) missing += " " + std::string(name);
  }
  return missing;
}

StatusOr<std::unique_ptr<CgroupManager>> CreateCgroupV2Manager(
    const std::string& root, bool move_self, std::shared_ptr<const CgroupFs> cgfs) {
  if (!IsDir(root)) return Internal("cgroup v2 root " + root + " is not a directory");
  if (!cgfs->IsCgroup2(root)) return Internal(root + " is not on a cgroup2 filesystem");
  auto manager = std::make_unique<V2Manager>(root, std::move(cgfs));
  if (Status s = manager->Init(move_self); !s.ok()) return s;
  return std::unique_ptr<CgroupManager>(std::move(manager));
}

}  // namespace sandboxd

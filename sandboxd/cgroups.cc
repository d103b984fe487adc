#include "cgroups.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "sandboxd/unique_fd.h"

namespace sandboxd {
namespace {
namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr std::uint64_t kCpuPeriodUs = 100'000;
// CPU weights beside the caps. Every sandbox gets the same weight, whatever its thread count, so
// two that burn CPU in many threads get no more of a busy node than one importing pandas; the
// cap (cpu.max, cfs_quota) only bounds each one from above.
constexpr std::string_view kSandboxCpuWeight = "100";  // v2 cpu.weight (1..10000)
constexpr std::uint64_t kCpuSharesPerCpu = 1024;       // v1 cpu.shares of one busy task
constexpr std::string_view kControllers[] = {"memory", "pids", "cpu"};
constexpr std::string_view kSubtreeControl = "+memory +pids +cpu";

std::string ErrnoText(int err) {
  const char* desc = strerrordesc_np(err);
  const char* name = strerrorname_np(err);
  return std::string(desc != nullptr ? desc : "unknown error") + " (" +
         (name != nullptr ? std::string(name) : "errno " + std::to_string(err)) + ")";
}

Status Internal(std::string message) { return {ErrorCode::kInternal, std::move(message)}; }

bool IsCgroupFs(const std::string& path) {
  struct statfs st {};
  if (::statfs(path.c_str(), &st) != 0) return false;
  return st.f_type == CGROUP2_SUPER_MAGIC || st.f_type == CGROUP_SUPER_MAGIC;
}

bool IsCgroup2Fs(const std::string& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

bool IsDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// Ids name directories; one holding "/" or ".." would reach outside the sandboxes' parent.
bool IsSandboxId(const std::string& id) {
  if (id.empty() || id.size() > 200 || id == "." || id == "..") return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "key value" lines (memory.events, memory.oom_control).
std::optional<std::uint64_t> ReadKey(const std::string& text, std::string_view key) {
  std::istringstream lines(text);
  std::string name;
  std::uint64_t value = 0;
  while (lines >> name) {
    if (!(lines >> value)) return std::nullopt;
    if (name == key) return value;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> ReadNumber(const std::string& path) {
  const auto text = ReadFile(path);
  if (!text) return std::nullopt;
  std::uint64_t value = 0;
  const char* begin = text->data();
  const char* end = begin + text->size();
  if (std::from_chars(begin, end, value).ec != std::errc()) return std::nullopt;
  return value;
}

std::vector<pid_t> ReadPids(const std::string& path) {
  std::vector<pid_t> pids;
  const auto text = ReadFile(path);
  if (!text) return pids;
  std::istringstream in(*text);
  long long pid = 0;
  // kill(0) and kill(-1) would hit our process group or every process: only real pids pass.
  while (in >> pid) {
    if (pid > 0 && pid <= INT32_MAX) pids.push_back(static_cast<pid_t>(pid));
  }
  return pids;
}

std::vector<std::string> ListSubdirs(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_directory(ec) && !entry.is_symlink(ec))
      names.push_back(entry.path().filename().string());
  }
  return names;
}

// The kernel's files, or a plain directory standing in for them in tests (`fake`).
class CgroupFs {
 public:
  explicit CgroupFs(bool fake) : fake_(fake) {}
  bool fake() const { return fake_; }

  // 0 or errno. One write() per value: cgroupfs parses each write on its own.
  int WriteErrno(const std::string& path, std::string_view value) const {
    int flags = O_WRONLY | O_CLOEXEC;
    // The fake fs has no kernel to populate files; cgroup.procs accumulates as moves would.
    if (fake_) {
      const bool procs = path.ends_with("/cgroup.procs");
      flags |= O_CREAT | (procs ? O_APPEND : O_TRUNC);
    }
    UniqueFd fd(::open(path.c_str(), flags, 0644));
    if (!fd) return errno;
    const ssize_t n = ::write(fd.get(), value.data(), value.size());
    if (n < 0) return errno;
    return static_cast<std::size_t>(n) == value.size() ? 0 : EIO;
  }

  Status Write(const std::string& path, std::string_view value) const {
    const int err = WriteErrno(path, value);
    if (err == 0) return Status::Ok();
    return Internal("cannot write \"" + std::string(value) + "\" to " + path + ": " +
                    ErrnoText(err));
  }

  // For files a kernel may lack (no swap accounting, an older kernel): absent is fine.
  Status WriteIfPresent(const std::string& path, std::string_view value) const {
    const int err = WriteErrno(path, value);
    if (err == 0 || err == ENOENT) return Status::Ok();
    return Internal("cannot write \"" + std::string(value) + "\" to " + path + ": " +
                    ErrnoText(err));
  }

  // 0 or errno; an existing directory counts as made.
  int MakeDir(const std::string& path) const {
    if (::mkdir(path.c_str(), 0755) == 0) return 0;
    const int err = errno;
    if (err == EEXIST && IsDir(path)) return 0;
    return err;
  }

  // True once `dir` is gone. Processes killed a moment ago may still be leaving (EBUSY), so
  // rmdir is retried `attempts` times with a short, growing pause.
  bool RemoveDir(const std::string& dir, int attempts) const {
    std::error_code ec;
    if (fake_) {
      fs::remove_all(dir, ec);
      return !Exists(dir);
    }
    // On cgroupfs only rmdir is right (its files cannot be unlinked); a child cgroup keeps the
    // parent busy forever, so children go first.
    bool children_gone = true;
    for (const auto& child : ListSubdirs(dir))
      children_gone = RemoveDir(dir + "/" + child, attempts) && children_gone;
    if (!children_gone) return false;
    milliseconds pause(1);
    for (int attempt = 0; attempt < attempts; ++attempt) {
      if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
      if (errno != EBUSY) return false;
      if (attempt + 1 < attempts) {
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, milliseconds(50));
      }
    }
    return false;
  }

  // SIGKILLs every pid listed until the lists are empty: a process may fork between the read and
  // the signal. Bounded, so a process stuck in D state cannot hang the caller. (A pid could be
  // reused between read and kill; with a 4M pid space and microseconds between them it is not.)
  void KillListed(const std::vector<std::string>& procs_files) const {
    const int rounds = fake_ ? 1 : 200;  // the fake fs's lists never empty themselves
    for (int round = 0; round < rounds; ++round) {
      bool any = false;
      for (const auto& procs : procs_files) {
        for (pid_t pid : ReadPids(procs)) {
          if (pid == ::getpid()) continue;  // a test, or a misconfigured root, may list us
          ::kill(pid, SIGKILL);
          any = true;
        }
      }
      if (!any) return;
      std::this_thread::sleep_for(milliseconds(1));
    }
  }

 private:
  bool fake_;
};

constexpr int kRemoveAttempts = 8;  // about 160 ms in all

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
  const auto comm = ReadFile("/proc/" + std::to_string(pid) + "/comm");
  return comm && comm->rfind("sandboxd", 0) == 0;
}

// What v1 and v2 share: ids map to one directory per hierarchy; removal and its retries.
class ManagerBase : public CgroupManager {
 public:
  explicit ManagerBase(bool fake) : cgfs_(fake) {}

  void Remove(const std::string& sandbox_id) override {
    if (!IsSandboxId(sandbox_id)) return;
    Kill(sandbox_id);
    const bool gone = RemoveDirs(sandbox_id, kRemoveAttempts);
    std::lock_guard lock(mu_);
    if (gone) {
      pending_.erase(sandbox_id);
    } else {
      pending_.insert(sandbox_id);
    }
  }

  int RemoveStale() override {
    std::set<std::string> ids;
    for (const auto& parent : Parents()) {
      for (auto& name : ListSubdirs(parent)) {
        if (IsSandboxId(name) && !OfLiveDaemon(name)) ids.insert(std::move(name));
      }
    }
    int removed = 0;
    for (const auto& id : ids) {
      Kill(id);
      if (RemoveDirs(id, kRemoveAttempts)) {
        ++removed;
      } else {
        std::lock_guard lock(mu_);
        pending_.insert(id);
      }
    }
    return removed;
  }

 protected:
  // Directories holding the sandboxes' cgroups (one per hierarchy), and one sandbox's cgroups.
  virtual std::vector<std::string> Parents() const = 0;

  std::vector<std::string> Dirs(const std::string& sandbox_id) const {
    std::vector<std::string> dirs;
    for (const auto& parent : Parents()) dirs.push_back(parent + "/" + sandbox_id);
    return dirs;
  }

  std::vector<std::string> ProcsFiles(const std::string& sandbox_id) const {
    std::vector<std::string> files;
    for (const auto& dir : Dirs(sandbox_id)) files.push_back(dir + "/cgroup.procs");
    return files;
  }

  bool RemoveDirs(const std::string& sandbox_id, int attempts) const {
    bool gone = true;
    for (const auto& dir : Dirs(sandbox_id)) gone = cgfs_.RemoveDir(dir, attempts) && gone;
    return gone;
  }

  // Makes the sandbox's directories, or says why not (and leaves none behind).
  Status MakeDirs(const std::string& sandbox_id) {
    if (!IsSandboxId(sandbox_id)) return Internal("invalid sandbox id \"" + sandbox_id + "\"");
    for (const auto& dir : Dirs(sandbox_id)) {
      if (int err = cgfs_.MakeDir(dir); err != 0) {
        RemoveDirs(sandbox_id, 1);
        return Internal("cannot create cgroup " + dir + ": " + ErrnoText(err));
      }
    }
    return Status::Ok();
  }

  // One rmdir for what an earlier Remove could not finish. Its processes were killed then and
  // are only slow to exit (D state), so killing again would just make this call slow.
  void RetryPending() {
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

  CgroupFs cgfs_;

 private:
  std::mutex mu_;
  std::set<std::string> pending_;
};

std::string LimitOrMax(std::uint64_t value) {
  return value == 0 ? std::string("max") : std::to_string(value);
}

class V2Manager final : public ManagerBase {
 public:
  V2Manager(std::string root, bool fake)
      : ManagerBase(fake), root_(std::move(root)), sandboxes_(root_ + "/sandboxes") {}

  Status LowerMemoryLimit(const std::string& sandbox_id, std::uint64_t bytes) override {
    return cgfs_.Write(sandboxes_ + "/" + sandbox_id + "/memory.max", std::to_string(bytes));
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
    Status s = cgfs_.Write(dir + "/memory.max", std::to_string(limits.memory_bytes));
    // Swap would let a sandbox hold far more than its limit, and slowly.
    if (s.ok()) s = cgfs_.WriteIfPresent(dir + "/memory.swap.max", "0");
    // Without it the OOM killer takes one process and leaves the rest of the sandbox running.
    if (s.ok()) s = cgfs_.WriteIfPresent(dir + "/memory.oom.group", "1");
    if (s.ok()) s = cgfs_.Write(dir + "/pids.max", LimitOrMax(limits.max_pids));
    if (s.ok()) s = cgfs_.Write(dir + "/cpu.max", cpu_max);
    if (s.ok()) s = cgfs_.Write(dir + "/cpu.weight", kSandboxCpuWeight);
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
    if (cgfs_.WriteErrno(dir + "/cgroup.kill", "1") == 0) return;
    cgfs_.KillListed({dir + "/cgroup.procs"});
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

  std::string Describe() const override {
    return "cgroup v2 at " + root_ + (cgfs_.fake() ? " (not cgroupfs: test mode)" : "");
  }

  Status Init(bool move_self) {
    const auto controllers = ReadFile(root_ + "/cgroup.controllers");
    if (!controllers)
      return Internal("cannot read " + root_ + "/cgroup.controllers: not a cgroup v2 directory");
    if (const std::string missing = MissingControllers(*controllers); !missing.empty()) {
      return Internal("cgroup v2 at " + root_ + " lacks the" + missing +
                      " controller(s) (cgroup.controllers: \"" + Trim(*controllers) +
                      "\"); the daemon needs a delegated cgroup (systemd Delegate=yes)");
    }
    // The hierarchy's root cgroup is exempt from the no-internal-processes rule, and moving every
    // process of the host into root/daemon is not ours to do.
    const bool is_hierarchy_root = !cgfs_.fake() && !Exists(root_ + "/cgroup.type");
    if (move_self && !is_hierarchy_root) {
      if (Status s = MoveProcessesToDaemon(); !s.ok()) return s;
    }
    if (Status s = cgfs_.Write(root_ + "/cgroup.subtree_control", kSubtreeControl); !s.ok())
      return s;
    if (int err = cgfs_.MakeDir(sandboxes_); err != 0)
      return Internal("cannot create cgroup " + sandboxes_ + ": " + ErrnoText(err));
    return cgfs_.Write(sandboxes_ + "/cgroup.subtree_control", kSubtreeControl);
  }

  static std::string MissingControllers(const std::string& listed) {
    std::istringstream words(listed);
    std::set<std::string> have;
    for (std::string word; words >> word;) have.insert(word);
    std::string missing;
    for (auto name : kControllers) {
      if (!have.contains(std::string(name))) missing += " " + std::string(name);
    }
    return missing;
  }

  static std::string Trim(std::string text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    return text;
  }

 private:
  std::vector<std::string> Parents() const override { return {sandboxes_}; }

  // A cgroup with processes cannot enable controllers for its children, so the daemon (and its
  // launcher) leave root for root/daemon first.
  Status MoveProcessesToDaemon() {
    const std::string daemon = root_ + "/daemon";
    if (int err = cgfs_.MakeDir(daemon); err != 0)
      return Internal("cannot create cgroup " + daemon + ": " + ErrnoText(err));
    const int rounds = cgfs_.fake() ? 1 : 10;  // a process may fork while we move
    for (int round = 0; round < rounds; ++round) {
      const auto pids = ReadPids(root_ + "/cgroup.procs");
      if (pids.empty()) break;
      for (pid_t pid : pids) {
        const int err = cgfs_.WriteErrno(daemon + "/cgroup.procs", std::to_string(pid) + "\n");
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
std::optional<std::string> FindHierarchy(const std::string& mount_root,
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

class V1Manager final : public ManagerBase {
 public:
  V1Manager(std::vector<Hierarchy> hierarchies, std::string group, bool fake)
      : ManagerBase(fake), hierarchies_(std::move(hierarchies)), group_(std::move(group)) {}
  // The daemon's own group goes with it when it is empty (it fails harmlessly otherwise).
  ~V1Manager() override {
    if (cgfs_.fake()) return;
    for (const auto& h : hierarchies_) ::rmdir((h.dir + "/" + group_).c_str());
  }

  Status LowerMemoryLimit(const std::string& sandbox_id, std::uint64_t bytes) override {
    for (const auto& h : hierarchies_) {
      if (!Has(h, "memory")) continue;
      const std::string dir = h.dir + "/" + group_ + "/" + sandbox_id;
      // Lowering: limit_in_bytes first, so memsw (which may not be below it) can follow.
      Status s = cgfs_.Write(dir + "/memory.limit_in_bytes", std::to_string(bytes));
      if (s.ok())
        s = cgfs_.WriteIfPresent(dir + "/memory.memsw.limit_in_bytes", std::to_string(bytes));
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
        s = cgfs_.Write(dir + "/memory.limit_in_bytes", memory);
        // memsw is memory plus swap and may not be below limit_in_bytes: equal means no swap.
        // It is absent when the kernel does not account swap.
        if (s.ok()) s = cgfs_.WriteIfPresent(dir + "/memory.memsw.limit_in_bytes", memory);
        // Without memsw this is what keeps the sandbox out of swap; best effort, as not every
        // kernel lets it be set per cgroup.
        cgfs_.WriteErrno(dir + "/memory.swappiness", "0");
      }
      if (s.ok() && Has(h, "pids")) s = cgfs_.Write(dir + "/pids.max", LimitOrMax(limits.max_pids));
      if (s.ok() && Has(h, "cpu")) {
        s = cgfs_.Write(dir + "/cpu.cfs_period_us", std::to_string(kCpuPeriodUs));
        if (s.ok()) s = cgfs_.Write(dir + "/cpu.shares", std::to_string(kCpuSharesPerCpu));
        if (s.ok()) {
          s = cgfs_.Write(dir + "/cpu.cfs_quota_us",
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
    cgfs_.KillListed(ProcsFiles(sandbox_id));
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
    return text + (cgfs_.fake() ? " (not cgroupfs: test mode)" : "");
  }

  Status Init() {
    for (const auto& h : hierarchies_) {
      const std::string dir = h.dir + "/" + group_;
      if (int err = cgfs_.MakeDir(dir); err != 0)
        return Internal("cannot create cgroup " + dir + ": " + ErrnoText(err));
      // On v1 the daemon's group sits beside every host process, and a group of default weight
      // counts as one busy task: behind a host build, all the node's sandboxes together would
      // share a fraction of one CPU. Weighed as one busy task per CPU, they get the node's
      // CPUs in proportion to what else runs (systemd's CPUWeight= does this on v2).
      if (Has(h, "cpu")) {
        const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
        const std::uint64_t shares =
            kCpuSharesPerCpu * static_cast<std::uint64_t>(cpus > 0 ? cpus : 1);
        if (Status s = cgfs_.Write(dir + "/cpu.shares", std::to_string(shares)); !s.ok()) return s;
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

StatusOr<std::unique_ptr<CgroupManager>> CreateCgroupV2Manager(const std::string& root,
                                                               bool move_self) {
  if (!IsDir(root)) return Internal("cgroup v2 root " + root + " is not a directory");
  auto manager = std::make_unique<V2Manager>(root, !IsCgroupFs(root));
  if (Status s = manager->Init(move_self); !s.ok()) return s;
  return std::unique_ptr<CgroupManager>(std::move(manager));
}

StatusOr<std::unique_ptr<CgroupManager>> CreateCgroupV1Manager(const std::string& mount_root,
                                                               const std::string& group) {
  if (!IsSandboxId(group)) return Internal("invalid cgroup v1 group name \"" + group + "\"");
  std::vector<Hierarchy> hierarchies;
  std::string missing;
  for (auto controller : kControllers) {
    const auto dir = FindHierarchy(mount_root, controller);
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
  const bool fake = !IsCgroupFs(hierarchies.front().dir);
  auto manager = std::make_unique<V1Manager>(std::move(hierarchies), group, fake);
  if (Status s = manager->Init(); !s.ok()) return s;
  return std::unique_ptr<CgroupManager>(std::move(manager));
}

StatusOr<std::unique_ptr<CgroupManager>> DetectCgroupManager(const std::string& configured_root,
                                                             const std::string& v1_group) {
  if (!configured_root.empty()) {
    if (Exists(configured_root + "/cgroup.controllers")) {
      if (!IsCgroup2Fs(configured_root))
        return Internal("cgroup_root " + configured_root + " is not on a cgroup2 filesystem");
      return CreateCgroupV2Manager(configured_root, /*move_self=*/true);
    }
    if (const auto memory = FindHierarchy(configured_root, "memory")) {
      if (!IsCgroupFs(*memory))
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
      if (!IsCgroup2Fs(mount)) continue;
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
      if (const std::string missing = V2Manager::MissingControllers(*controllers);
          !missing.empty()) {
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
  const auto memory = FindHierarchy(v1_root, "memory");
  if (memory && IsCgroupFs(*memory)) {
    auto manager = CreateCgroupV1Manager(v1_root, v1_group);
    if (manager.ok()) return manager;
    return Internal("no usable cgroups: " + v2_problem + "; " + manager.status().message());
  }
  return Internal("no usable cgroups: " + v2_problem + "; cgroup v1: no " + v1_root +
                  "/memory/memory.limit_in_bytes");
}

}  // namespace sandboxd

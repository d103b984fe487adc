#include "cgroups.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "fake_cgroup_fs.h"

namespace sandboxd {
namespace {
namespace fs = std::filesystem;

::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" lacks \"" << part << "\"";
}

std::size_t Lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

std::string Slurp(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void Put(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A fresh directory the test owns, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "cgroups_test.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
    ::chmod(path_.c_str(), 0755);  // the unwritable-dir test runs as nobody and must traverse it
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

SandboxLimits Limits(std::uint64_t memory, std::uint64_t pids, std::uint32_t cpu) {
  SandboxLimits limits;
  limits.memory_bytes = memory;
  limits.max_pids = pids;
  limits.cpu_percent = cpu;
  return limits;
}

// A delegated v2 cgroup as the kernel would show it, before the daemon touched it.
class FakeV2 : public ::testing::Test {
 protected:
  void SetUp() override {
    Put(root() / "cgroup.controllers", "cpuset cpu io memory pids\n");
    Put(root() / "cgroup.subtree_control", "");
    Put(root() / "cgroup.procs", "");
    Put(root() / "cgroup.type", "domain\n");  // a delegated cgroup, not the hierarchy's root
  }
  fs::path root() const { return dir_.path() / "sandboxd.service"; }
  std::unique_ptr<CgroupManager> Manager(bool move_self = false) {
    auto manager = CreateCgroupV2Manager(root().string(), move_self, cgfs_);
    EXPECT_TRUE(manager.ok()) << manager.status().ToString();
    return manager.ok() ? std::move(manager).value() : nullptr;
  }

  TempDir dir_;
  std::shared_ptr<const CgroupFs> cgfs_ =
      std::make_shared<testing::FakeCgroupFs>(dir_.path().string());
};

TEST_F(FakeV2, EnablesControllersForSandboxes) {
  auto manager = Manager();
  ASSERT_NE(manager, nullptr);
  EXPECT_EQ(Slurp(root() / "cgroup.subtree_control"), "+memory +pids +cpu");
  EXPECT_EQ(Slurp(root() / "sandboxes/cgroup.subtree_control"), "+memory +pids +cpu");
  EXPECT_FALSE(fs::exists(root() / "daemon")) << "move_self is false";
  EXPECT_TRUE(Contains(manager->Describe(), "cgroup v2 at " + root().string()));
}

TEST_F(FakeV2, CreateWritesExactLimits) {
  auto manager = Manager();
  ASSERT_NE(manager, nullptr);
  auto procs = manager->Create("s1-42-7", Limits(64ULL << 20, 32, 150));
  ASSERT_TRUE(procs.ok()) << procs.status().ToString();
  const fs::path dir = root() / "sandboxes/s1-42-7";
  EXPECT_EQ(*procs, std::vector<std::string>{(dir / "cgroup.procs").string()});
  EXPECT_EQ(Slurp(dir / "memory.max"), "67108864");
  EXPECT_EQ(Slurp(dir / "memory.swap.max"), "0");
  EXPECT_EQ(Slurp(dir / "memory.oom.group"), "1");
  EXPECT_EQ(Slurp(dir / "pids.max"), "32");
  EXPECT_EQ(Slurp(dir / "cpu.max"), "150000 100000");
  // Every sandbox the same weight, whatever its thread count (N1).
  EXPECT_EQ(Slurp(dir / "cpu.weight"), "100");
}

TEST_F(FakeV2, ZeroCpuAndPidsMeanNoLimit) {
  auto manager = Manager();
  ASSERT_NE(manager, nullptr);
  ASSERT_TRUE(manager->Create("s", Limits(1 << 30, 0, 0)).ok());
  EXPECT_EQ(Slurp(root() / "sandboxes/s/cpu.max"), "max 100000");
  EXPECT_EQ(Slurp(root() / "sandboxes/s/pids.max"), "max");
}

TEST_F(FakeV2, RefusesNoMemoryLimitAndBadIds) {
  auto manager = Manager();
  ASSERT_NE(manager, nullptr);
  EXPECT_FALSE(manager->Create("s", Limits(0, 10, 100)).ok());
  for (const char* id : {"", "..", "../escape", "a/b"}) {
    auto procs = manager->Create(id, Limits(1 << 20, 10, 100));
    EXPECT_FALSE(procs.ok()) << id;
  }
  EXPECT_FALSE(fs::exists(dir_.path() / "escape"));
}

TEST_F(FakeV2, MovesDaemonProcessesOutOfTheRoot) {
  // Processes that exist (the fake lists only running ones): this test and its parent.
  const std::string pids = std::to_string(::getpid()) + "\n" + std::to_string(::getppid()) + "\n";
  Put(root() / "cgroup.procs", pids);
  auto manager = Manager(/*move_self=*/true);
  ASSERT_NE(manager, nullptr);
  EXPECT_EQ(Slurp(root() / "daemon/cgroup.procs"), pids);
  EXPECT_EQ(Slurp(root() / "cgroup.procs"), "") << "moved, not copied";
  EXPECT_EQ(Slurp(root() / "cgroup.subtree_control"), "+memory +pids +cpu");
}

TEST_F(FakeV2, NamesMissingControllers) {
  Put(root() / "cgroup.controllers", "cpu io\n");
  auto manager = CreateCgroupV2Manager(root().string(), false, cgfs_);
  ASSERT_FALSE(manager.ok());
  EXPECT_EQ(manager.status().code(), ErrorCode::kInternal);
  EXPECT_TRUE(Contains(manager.status().message(), "memory pids"));
  EXPECT_TRUE(Contains(manager.status().message(), "Delegate=yes"));
}

TEST_F(FakeV2, RefusesADirectoryThatIsNotACgroup) {
  fs::remove(root() / "cgroup.controllers");
  auto manager = CreateCgroupV2Manager(root().string(), false, cgfs_);
  ASSERT_FALSE(manager.ok());
  EXPECT_TRUE(Contains(manager.status().message(), "cgroup.controllers"));
  EXPECT_FALSE(CreateCgroupV2Manager((dir_.path() / "absent").string(), false, cgfs_).ok());
}

TEST_F(FakeV2, OutcomeReadsOomKillsAndPeak) {
  auto manager = Manager();
  ASSERT_NE(manager, nullptr);
  ASSERT_TRUE(manager->Create("s", Limits(1 << 30, 10, 100)).ok());
  const fs::path dir = root() / "sandboxes/s";

  CgroupOutcome outcome = manager->Outcome("s");  // no memory.events, no memory.peak
  EXPECT_FALSE(outcome.oom_killed);
  EXPECT_EQ(outcome.peak_memory_bytes, 0u);

  Put(dir / "memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 0\noom_group_kill 0\n");
  Put(dir / "memory.peak", "123456789\n");
  outcome = manager->Outcome("s");
  EXPECT_FALSE(outcome.oom_killed);
  EXPECT_EQ(outcome.peak_memory_bytes, 123456789u);

  Put(dir / "memory.events", "low 0\nhigh 0\nmax 12\noom 3\noom_kill 3\noom_group_kill 0\n");
  EXPECT_TRUE(manager->Outcome("s").oom_killed);

  Put(dir / "memory.events", "oom 1\noom_kill 0\noom_group_kill 1\n");
  EXPECT_TRUE(manager->Outcome("s").oom_killed);

  EXPECT_FALSE(manager->Outcome("unknown").oom_killed);
}

TEST_F(FakeV2, KillWritesCgroupKill) {
  auto manager = Manager();
  ASSERT_NE(manager, nullptr);
  ASSERT_TRUE(manager->Create("s", Limits(1 << 30, 10, 100)).ok());
  manager->Kill("s");
  EXPECT_EQ(Slurp(root() / "sandboxes/s/cgroup.kill"), "1");
  manager->Kill("unknown");  // nothing to kill, nothing created
  EXPECT_FALSE(fs::exists(root() / "sandboxes/unknown"));
}

TEST_F(FakeV2, RemoveIsIdempotent) {
  auto manager = Manager();
  ASSERT_NE(manager, nullptr);
  ASSERT_TRUE(manager->Create("s", Limits(1 << 30, 10, 100)).ok());
  manager->Remove("s");
  EXPECT_FALSE(fs::exists(root() / "sandboxes/s"));
  manager->Remove("s");
  manager->Remove("never-created");
  EXPECT_TRUE(fs::exists(root() / "sandboxes"));
}

TEST_F(FakeV2, RemoveStaleClearsWhatACrashLeft) {
  {
    auto crashed = Manager();
    ASSERT_NE(crashed, nullptr);
    ASSERT_TRUE(crashed->Create("old-1", Limits(1 << 30, 10, 100)).ok());
    ASSERT_TRUE(crashed->Create("old-2", Limits(1 << 30, 10, 100)).ok());
  }
  auto manager = Manager();
  ASSERT_NE(manager, nullptr);
  EXPECT_EQ(manager->RemoveStale(), 2);
  for (const auto& entry : fs::directory_iterator(root() / "sandboxes"))
    EXPECT_FALSE(entry.is_directory()) << entry.path();
}

TEST_F(FakeV2, WriteErrorNamesFileAndErrno) {
  auto manager = Manager();
  ASSERT_NE(manager, nullptr);
  fs::create_directories(root() / "sandboxes/s/memory.max");  // open(O_WRONLY) gives EISDIR
  auto procs = manager->Create("s", Limits(1 << 30, 10, 100));
  ASSERT_FALSE(procs.ok());
  EXPECT_EQ(procs.status().code(), ErrorCode::kInternal);
  EXPECT_TRUE(Contains(procs.status().message(), (root() / "sandboxes/s/memory.max").string()));
  EXPECT_TRUE(Contains(procs.status().message(), "EISDIR"));
  EXPECT_FALSE(fs::exists(root() / "sandboxes/s")) << "a failed Create leaves nothing behind";
}

// Root ignores permission bits, so the check runs in a child that dropped to nobody.
TEST_F(FakeV2, UnwritableRootIsAnError) {
  fs::permissions(root(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
    auto manager = CreateCgroupV2Manager(root().string(), false, cgfs_);
    if (manager.ok()) ::_exit(1);
    const std::string message = manager.status().message();
    const bool named = message.find("cgroup.subtree_control") != std::string::npos &&
                       message.find("EACCES") != std::string::npos;
    ::_exit(named ? 0 : 2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: created anyway, 2: message lacks file or errno";
}

// v1 controllers mounted apart, with cpu co-mounted with cpuacct as many distributions do.
class FakeV1 : public ::testing::Test {
 protected:
  void SetUp() override {
    Put(mount() / "memory/memory.limit_in_bytes", "9223372036854771712\n");
    Put(mount() / "memory/cgroup.procs", "");
    Put(mount() / "pids/cgroup.procs", "");
    Put(mount() / "cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    Put(mount() / "cpu,cpuacct/cgroup.procs", "");
    Put(mount() / "cpuset/cgroup.procs", "");
  }
  fs::path mount() const { return dir_.path(); }
  std::unique_ptr<CgroupManager> Manager() {
    auto manager = CreateCgroupV1Manager(mount().string(), "sandboxd", cgfs_);
    EXPECT_TRUE(manager.ok()) << manager.status().ToString();
    return manager.ok() ? std::move(manager).value() : nullptr;
  }

  TempDir dir_;
  std::shared_ptr<const CgroupFs> cgfs_ =
      std::make_shared<testing::FakeCgroupFs>(dir_.path().string());
};

TEST_F(FakeV1, CreateWritesExactLimitsInEachHierarchy) {
  auto manager = Manager();
  ASSERT_NE(manager, nullptr);
  auto procs = manager->Create("s1", Limits(64ULL << 20, 32, 50));
  ASSERT_TRUE(procs.ok()) << procs.status().ToString();
  const fs::path memory = mount() / "memory/sandboxd/s1";
  const fs::path pids = mount() / "pids/sandboxd/s1";
  const fs::path cpu = mount() / "cpu,cpuacct/sandboxd/s1";
  EXPECT_EQ(*procs, (std::vector<std::string>{(memory / "cgroup.procs").string(),
                                              (pids / "cgroup.procs").string(),
                                              (cpu / "cgroup.procs").string()}));
  EXPECT_EQ(Slurp(memory / "memory.limit_in_bytes"), "67108864");
  EXPECT_EQ(Slurp(memory / "memory.memsw.limit_in_bytes"), "67108864");
  EXPECT_EQ(Slurp(memory / "memory.swappiness"), "0");
  EXPECT_EQ(Slurp(pids / "pids.max"), "32");
  EXPECT_EQ(Slurp(cpu / "cpu.cfs_period_us"), "100000");
  EXPECT_EQ(Slurp(cpu / "cpu.cfs_quota_us"), "50000");
  // Every sandbox the weight of one busy task; the daemon's group one per CPU, so that behind
  // busy host processes the node's sandboxes do not share a fraction of one CPU (N1).
  EXPECT_EQ(Slurp(cpu / "cpu.shares"), "1024");
  EXPECT_EQ(Slurp(mount() / "cpu,cpuacct/sandboxd/cpu.shares"),
            std::to_string(1024 * ::sysconf(_SC_NPROCESSORS_ONLN)));
  EXPECT_FALSE(fs::exists(mount() / "cpuset/sandboxd")) << "only the three controllers";
  EXPECT_TRUE(Contains(manager->Describe(), "cgroup v1 at"));

  ASSERT_TRUE(manager->Create("s2", Limits(1 << 30, 0, 0)).ok());
  EXPECT_EQ(Slurp(mount() / "cpu,cpuacct/sandboxd/s2/cpu.cfs_quota_us"), "-1");
  EXPECT_EQ(Slurp(mount() / "pids/sandboxd/s2/pids.max"), "max");
}

TEST_F(FakeV1, OutcomeReadsOomControl) {
  auto manager = Manager();
  ASSERT_NE(manager, nullptr);
  ASSERT_TRUE(manager->Create("s", Limits(1 << 30, 10, 100)).ok());
  const fs::path memory = mount() / "memory/sandboxd/s";
  EXPECT_FALSE(manager->Outcome("s").oom_killed);

  Put(memory / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
  Put(memory / "memory.max_usage_in_bytes", "67100672\n");
  CgroupOutcome outcome = manager->Outcome("s");
  EXPECT_FALSE(outcome.oom_killed);
  EXPECT_EQ(outcome.peak_memory_bytes, 67100672u);

  Put(memory / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
  EXPECT_TRUE(manager->Outcome("s").oom_killed);
}

TEST_F(FakeV1, NamesTheMissingController) {
  fs::remove_all(mount() / "pids");
  auto manager = CreateCgroupV1Manager(mount().string(), "sandboxd", cgfs_);
  ASSERT_FALSE(manager.ok());
  EXPECT_TRUE(Contains(manager.status().message(), "pids"));
  EXPECT_FALSE(Contains(manager.status().message(), "memory"));
}

TEST_F(FakeV1, KillSignalsListedProcessesButNeverItself) {
  auto manager = Manager();
  ASSERT_NE(manager, nullptr);
  auto procs = manager->Create("s", Limits(1 << 30, 10, 100));
  ASSERT_TRUE(procs.ok());
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (;;) ::pause();
  }
  Put((*procs)[1], std::to_string(::getpid()) + "\n" + std::to_string(child) + "\n");
  manager->Kill("s");
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

TEST_F(FakeV1, RemoveStaleCountsSandboxesNotDirectories) {
  {
    auto crashed = Manager();
    ASSERT_NE(crashed, nullptr);
    ASSERT_TRUE(crashed->Create("a", Limits(1 << 30, 10, 100)).ok());
    ASSERT_TRUE(crashed->Create("b", Limits(1 << 30, 10, 100)).ok());
  }
  auto manager = Manager();
  ASSERT_NE(manager, nullptr);
  EXPECT_EQ(manager->RemoveStale(), 2);
  for (const char* h : {"memory", "pids", "cpu,cpuacct"}) {
    for (const auto& entry : fs::directory_iterator(mount() / h / "sandboxd"))
      EXPECT_FALSE(entry.is_directory()) << h << ": " << entry.path();
  }
}

TEST(DetectCgroupManager, RefusesAConfiguredRootThatIsNotCgroupfs) {
  TempDir dir;
  Put(dir.path() / "cgroup.controllers", "cpu memory pids\n");
  auto manager = DetectCgroupManager(dir.path().string(), "sandboxd");
  ASSERT_FALSE(manager.ok());
  EXPECT_TRUE(Contains(manager.status().message(), "not on a cgroup2 filesystem"));

  auto nothing = DetectCgroupManager((dir.path() / "absent").string(), "sandboxd");
  ASSERT_FALSE(nothing.ok());
  EXPECT_TRUE(Contains(nothing.status().message(), "neither"));
}

// The development machines: v1 controllers, and an empty cgroup2 at /sys/fs/cgroup/unified.
TEST(DetectCgroupManager, ChoosesV1WhenTheUnifiedHierarchyHasNoControllers) {
  std::ifstream self("/proc/self/cgroup");
  std::string line;
  bool in_v2_root = false;
  while (std::getline(self, line)) in_v2_root = in_v2_root || line == "0::/";
  if (!in_v2_root || !fs::exists("/sys/fs/cgroup/memory/memory.limit_in_bytes") ||
      ::access("/sys/fs/cgroup/memory", W_OK) != 0) {
    GTEST_SKIP() << "not a v1 host with a writable /sys/fs/cgroup/memory";
  }
  auto manager = DetectCgroupManager("", "sandboxd-test-detect");
  ASSERT_TRUE(manager.ok()) << manager.status().ToString();
  EXPECT_TRUE(Contains((*manager)->Describe(), "cgroup v1 at /sys/fs/cgroup/memory/sandboxd"));
}

// The development machines mount an empty cgroup2 beside the v1 controllers.
TEST(RealV2, AHierarchyWithoutControllersIsRefused) {
  const std::string unified = "/sys/fs/cgroup/unified";
  const std::string controllers = Slurp(unified + "/cgroup.controllers");
  if (!fs::exists(unified + "/cgroup.controllers") || Contains(controllers, "memory"))
    GTEST_SKIP() << "no cgroup2 without controllers at " << unified;
  auto manager = CreateCgroupV2Manager(unified, /*move_self=*/false);
  ASSERT_FALSE(manager.ok());
  EXPECT_TRUE(Contains(manager.status().message(), "lacks the memory pids cpu"));
}

// The real kernel: a child that touches 256 MiB in a 64 MiB cgroup is OOM-killed.
class RealV1 : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* h : {"memory", "pids", "cpu"}) {
      const std::string dir = std::string("/sys/fs/cgroup/") + h;
      if (::access(dir.c_str(), W_OK) != 0 || !fs::exists(dir + "/cgroup.procs"))
        GTEST_SKIP() << dir << " is not a writable cgroup v1 hierarchy";
    }
    // Its own group, so a daemon's RemoveStale and this test never touch each other's cgroups.
    group_ = "sandboxd-test-" + std::to_string(::getpid());
    auto manager = CreateCgroupV1Manager("/sys/fs/cgroup", group_);
    ASSERT_TRUE(manager.ok()) << manager.status().ToString();
    manager_ = std::move(manager).value();
  }
  void TearDown() override {
    if (manager_ == nullptr) return;
    manager_->RemoveStale();
    for (const char* h : {"memory", "pids", "cpu"})
      ::rmdir(("/sys/fs/cgroup/" + std::string(h) + "/" + group_).c_str());
  }

  // Forks a child that waits until it is in the cgroups, then runs `body` and exits 0.
  template <typename Body>
  pid_t StartInCgroups(const std::vector<std::string>& procs, Body body) {
    int go[2];
    if (::pipe(go) != 0) return -1;
    const pid_t child = ::fork();
    if (child == 0) {
      ::close(go[1]);
      char byte = 0;
      if (::read(go[0], &byte, 1) != 1) ::_exit(3);
      body();
      ::_exit(0);
    }
    ::close(go[0]);
    for (const auto& path : procs) {
      const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      const std::string pid = std::to_string(child);
      EXPECT_GE(fd, 0) << path;
      EXPECT_EQ(::write(fd, pid.data(), pid.size()), static_cast<ssize_t>(pid.size())) << path;
      ::close(fd);
    }
    EXPECT_EQ(::write(go[1], "G", 1), 1);
    ::close(go[1]);
    return child;
  }

  std::string group_;
  std::unique_ptr<CgroupManager> manager_;
};

TEST_F(RealV1, OomKillIsReportedAndRemoveLeavesNothing) {
  auto procs = manager_->Create("oom", Limits(64ULL << 20, 16, 100));
  ASSERT_TRUE(procs.ok()) << procs.status().ToString();
  const std::string memory = "/sys/fs/cgroup/memory/" + group_ + "/oom";
  EXPECT_EQ(Slurp(memory + "/memory.limit_in_bytes"), "67108864\n");
  if (fs::exists(memory + "/memory.memsw.limit_in_bytes")) {
    EXPECT_EQ(Slurp(memory + "/memory.memsw.limit_in_bytes"), "67108864\n");
  }
  EXPECT_EQ(Slurp("/sys/fs/cgroup/pids/" + group_ + "/oom/pids.max"), "16\n");
  EXPECT_EQ(Slurp("/sys/fs/cgroup/cpu/" + group_ + "/oom/cpu.cfs_quota_us"), "100000\n");

  const pid_t child = StartInCgroups(*procs, [] {
    constexpr std::size_t kSize = 256ULL << 20;
    void* block =
        ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block == MAP_FAILED) ::_exit(4);
    auto* bytes = static_cast<volatile char*>(block);
    for (std::size_t i = 0; i < kSize; i += 4096) bytes[i] = 1;
  });
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  const CgroupOutcome outcome = manager_->Outcome("oom");
  EXPECT_TRUE(outcome.oom_killed);
  EXPECT_GT(outcome.peak_memory_bytes, 32ULL << 20);
  EXPECT_LE(outcome.peak_memory_bytes, 64ULL << 20);

  manager_->Remove("oom");
  for (const char* h : {"memory", "pids", "cpu"})
    EXPECT_FALSE(fs::exists("/sys/fs/cgroup/" + std::string(h) + "/" + group_ + "/oom")) << h;
}

TEST_F(RealV1, KillTakesTheWholeProcessTree) {
  auto procs = manager_->Create("tree", Limits(256ULL << 20, 64, 100));
  ASSERT_TRUE(procs.ok()) << procs.status().ToString();
  const pid_t child = StartInCgroups(*procs, [] {
    for (int i = 0; i < 4; ++i) {
      if (::fork() == 0) break;  // four grandchildren
    }
    for (;;) ::pause();
  });
  ASSERT_GT(child, 0);
  // Let the tree grow before it is killed.
  for (int i = 0; i < 200 && Lines(Slurp((*procs)[0])) < 5; ++i) ::usleep(1000);
  manager_->Kill("tree");
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  for (int i = 0; i < 200 && !Slurp((*procs)[0]).empty(); ++i) ::usleep(1000);
  EXPECT_EQ(Slurp((*procs)[0]), "") << "grandchildren left in the cgroup";
  EXPECT_FALSE(manager_->Outcome("tree").oom_killed);
  manager_->Remove("tree");
  EXPECT_FALSE(fs::exists("/sys/fs/cgroup/memory/" + group_ + "/tree"));
}

}  // namespace
}  // namespace sandboxd

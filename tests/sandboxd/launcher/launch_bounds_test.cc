// The launcher's check of what a (possibly taken over) daemon asks of it
// (launcher/launch_bounds.h), and its refusal to write a pid anywhere but a cgroup filesystem
// (launcher/sandbox_host.h).
#include "launcher/launch_bounds.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "launcher/sandbox_host.h"

namespace sandboxd {
namespace {

namespace fs = std::filesystem;

class LaunchBoundsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/launch-bounds-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    for (const char* dir :
         {"/images/python3.11/rootfs", "/runtime", "/zygote", "/artifacts/requests/abc/Temp",
          "/artifacts/requests/abc/site", "/outside"})
      fs::create_directories(root_ + dir);
    bounds_.set_uid_first(100000);
    bounds_.set_uid_count(32);
    bounds_.set_images_dir(root_ + "/images");
    bounds_.set_runtime_dir(root_ + "/runtime");
    bounds_.set_zygote_module_dir(root_ + "/zygote");
    bounds_.set_artifacts_dir(root_ + "/artifacts");
    bounds_.add_cgroup_dirs("/sys/fs/cgroup/memory/sandboxd");
    bounds_.add_cgroup_dirs("/sys/fs/cgroup/pids/sandboxd");
    bounds_.set_max_tmp_bytes(1 << 20);
    bounds_.set_max_work_bytes(1 << 20);
    bounds_.set_max_shm_bytes(1 << 20);
    bounds_.set_max_inodes(1 << 20);
    bounds_.set_max_open_files(1024);
    bounds_.set_max_memory_bytes(1 << 30);
    good_.set_sandbox_id("s1");
    good_.set_rootfs(root_ + "/images/python3.11/rootfs");
    good_.set_runtime_dir(root_ + "/runtime");
    good_.set_from_zygote(true);
    good_.set_zygote_module_dir(root_ + "/zygote");
    good_.set_artifacts_dir(root_ + "/artifacts/requests/abc/Temp");
    good_.set_site_dir(root_ + "/artifacts/requests/abc/site");
    good_.set_outside_uid(100004);
    good_.set_outside_gid(100004);
    good_.set_outside_root_uid(100005);
    good_.set_outside_root_gid(100005);
    good_.set_hostname("sandbox");
    good_.add_env("PATH=/usr/bin");
    good_.add_cgroup_procs("/sys/fs/cgroup/memory/sandboxd/s1/cgroup.procs");
    good_.set_seccomp_program(std::string(8 * 10, '\0'));
    good_.set_tmp_bytes(1 << 20);
    good_.set_work_bytes(1 << 20);
    good_.set_shm_bytes(1 << 20);
    good_.set_max_inodes(1 << 20);
    good_.set_max_open_files(1024);
    good_.set_max_file_bytes(1 << 20);
    good_.set_memory_bytes(1 << 30);
    good_.set_cpu_count(2);
  }
  void TearDown() override { fs::remove_all(root_); }

  // The good request with one change is refused, and the message names `field`.
  void ExpectRefused(const std::function<void(internal::LaunchRequest&)>& change,
                     const std::string& field) {
    internal::LaunchRequest request = good_;
    change(request);
    const Status status = CheckLaunchRequest(bounds_, request);
    EXPECT_FALSE(status.ok()) << field;
    EXPECT_NE(status.message().find(field), std::string::npos) << status.message();
  }

  std::string root_;
  internal::LaunchBounds bounds_;
  internal::LaunchRequest good_;
};

TEST_F(LaunchBoundsTest, TheDaemonsOwnRequestsPass) {
  EXPECT_TRUE(CheckLaunchBounds(bounds_).ok());
  EXPECT_TRUE(CheckLaunchRequest(bounds_, good_).ok())
      << CheckLaunchRequest(bounds_, good_).message();
  internal::LaunchRequest launched = good_;  // a sandbox that execs its own runner
  launched.set_from_zygote(false);
  launched.clear_zygote_module_dir();
  launched.add_argv("/usr/bin/python3");
  launched.clear_artifacts_dir();
  launched.clear_site_dir();
  EXPECT_TRUE(CheckLaunchRequest(bounds_, launched).ok())
      << CheckLaunchRequest(bounds_, launched).message();
}

TEST_F(LaunchBoundsTest, HostIdsOutsideTheSlotsAndRootAreRefused) {
  ExpectRefused([](auto& r) { r.set_outside_uid(0); }, "outside_uid");
  ExpectRefused([](auto& r) { r.set_outside_root_uid(0); }, "outside_root_uid");
  ExpectRefused([](auto& r) { r.set_outside_gid(0); }, "outside_gid");
  ExpectRefused([](auto& r) { r.set_outside_root_gid(99999); }, "outside_root_gid");
  ExpectRefused([](auto& r) { r.set_outside_uid(100032); }, "outside_uid");
  ExpectRefused([](auto& r) { r.set_outside_uid(100005); }, "outside_uid");  // == root's
}

TEST_F(LaunchBoundsTest, FoldersOutsideTheirRootsAreRefused) {
  const std::string root = root_;
  ExpectRefused([&](auto& r) { r.set_rootfs("/"); }, "rootfs");
  ExpectRefused([&](auto& r) { r.set_rootfs(root + "/outside"); }, "rootfs");
  ExpectRefused([&](auto& r) { r.set_rootfs(root + "/images/../outside/rootfs"); }, "rootfs");
  ExpectRefused([&](auto& r) { r.set_rootfs(root + "/images/a/b/rootfs"); }, "rootfs");
  ExpectRefused([&](auto& r) { r.set_rootfs(root + "/images//rootfs"); }, "rootfs");
  ExpectRefused([&](auto& r) { r.set_runtime_dir("/etc"); }, "runtime_dir");
  ExpectRefused([&](auto& r) { r.set_zygote_module_dir(root + "/outside"); }, "zygote_module_dir");
  ExpectRefused([&](auto& r) { r.set_artifacts_dir("/etc"); }, "artifacts_dir");
  ExpectRefused([&](auto& r) { r.set_artifacts_dir(root + "/artifacts/requests"); },
                "artifacts_dir");
  ExpectRefused([&](auto& r) { r.set_site_dir(root + "/artifacts/requests/abc/../../../outside"); },
                "site_dir");
  ExpectRefused([&](auto& r) { r.set_site_dir(root + "/artifacts/requests/abc/site/"); },
                "site_dir");
  // A symlink the daemon planted in its own store does not lead out of it.
  fs::create_directory_symlink(root + "/outside", root + "/artifacts/requests/abc/escape");
  ExpectRefused([&](auto& r) { r.set_artifacts_dir(root + "/artifacts/requests/abc/escape"); },
                "artifacts_dir");
}

TEST_F(LaunchBoundsTest, CgroupFilesHostnameProgramAndLimitsAreChecked) {
  ExpectRefused([](auto& r) { r.add_cgroup_procs("/etc/passwd"); }, "cgroup_procs");
  ExpectRefused([](auto& r) { r.add_cgroup_procs("/sys/fs/cgroup/../../etc/cgroup.procs"); },
                "cgroup_procs");
  ExpectRefused([](auto& r) { r.set_hostname("a\nb"); }, "hostname");
  ExpectRefused([](auto& r) { r.set_hostname(std::string(65, 'a')); }, "hostname");
  ExpectRefused([](auto& r) { r.set_hostname(""); }, "hostname");
  ExpectRefused([](auto& r) { r.clear_seccomp_program(); }, "seccomp_program");
  ExpectRefused([](auto& r) { r.set_seccomp_program(std::string(7, '\0')); }, "seccomp_program");
  ExpectRefused([](auto& r) { r.set_seccomp_program(std::string(8 * 4097, '\0')); },
                "seccomp_program");
  ExpectRefused([](auto& r) { r.set_max_open_files(0); }, "max_open_files");
  ExpectRefused([](auto& r) { r.set_tmp_bytes(0); }, "tmp_bytes");
  ExpectRefused([](auto& r) { r.add_env("NOEQUALS"); }, "env");
  ExpectRefused(
      [](auto& r) {
        r.set_from_zygote(false);
        r.clear_zygote_module_dir();
      },
      "argv");
  // A launched sandbox may mount the extension folder (the runner's C loops), no other.
  ExpectRefused(
      [](auto& r) {
        r.set_from_zygote(false);
        r.set_zygote_module_dir("/elsewhere");
      },
      "zygote_module_dir");
  // --no-seccomp lets an empty program through, and nothing else.
  bounds_.set_allow_no_seccomp(true);
  internal::LaunchRequest unfiltered = good_;
  unfiltered.clear_seccomp_program();
  EXPECT_TRUE(CheckLaunchRequest(bounds_, unfiltered).ok());
}

// Issue 10: the daemon that hands these over runs as an ordinary user and may have been taken
// over; it may name the cgroup.procs of its own sandboxes' cgroups and nothing else.
TEST_F(LaunchBoundsTest, CgroupFilesOutsideTheDaemonsSandboxCgroupsAreRefused) {
  ExpectRefused([](auto& r) { r.add_cgroup_procs("/sys/fs/cgroup/pids/other/s1/cgroup.procs"); },
                "cgroup_procs");
  // The daemon's group itself (where its own processes may live), and a level too deep.
  ExpectRefused([](auto& r) { r.add_cgroup_procs("/sys/fs/cgroup/pids/sandboxd/cgroup.procs"); },
                "cgroup_procs");
  ExpectRefused(
      [](auto& r) { r.add_cgroup_procs("/sys/fs/cgroup/pids/sandboxd/s1/x/cgroup.procs"); },
      "cgroup_procs");
  // A sibling folder whose name starts like the group's.
  ExpectRefused(
      [](auto& r) { r.add_cgroup_procs("/sys/fs/cgroup/pids/sandboxd2/s1/cgroup.procs"); },
      "cgroup_procs");
  // One hierarchy twice (two cgroups of one hierarchy: the second write would move the first).
  ExpectRefused(
      [](auto& r) { r.add_cgroup_procs("/sys/fs/cgroup/memory/sandboxd/s2/cgroup.procs"); },
      "cgroup_procs");
  internal::LaunchRequest both = good_;
  both.add_cgroup_procs("/sys/fs/cgroup/pids/sandboxd/s1/cgroup.procs");
  EXPECT_TRUE(CheckLaunchRequest(bounds_, both).ok())
      << CheckLaunchRequest(bounds_, both).message();
  // --no-cgroups: no cgroup folders, so no cgroup.procs at all.
  bounds_.clear_cgroup_dirs();
  ExpectRefused([](auto&) {}, "cgroup_procs");
}

TEST_F(LaunchBoundsTest, SizesAboveTheNodesLimitsAreRefused) {
  ExpectRefused([](auto& r) { r.set_tmp_bytes((1 << 20) + 1); }, "tmp_bytes");
  ExpectRefused([](auto& r) { r.set_work_bytes(1ULL << 40); }, "work_bytes");
  ExpectRefused([](auto& r) { r.set_max_file_bytes(1ULL << 40); }, "max_file_bytes");
  ExpectRefused([](auto& r) { r.set_shm_bytes(UINT64_MAX); }, "shm_bytes");
  ExpectRefused([](auto& r) { r.set_max_inodes((1 << 20) + 1); }, "max_inodes");
  ExpectRefused([](auto& r) { r.set_max_open_files(1 << 20); }, "max_open_files");
  ExpectRefused([](auto& r) { r.set_memory_bytes((1ULL << 30) + 1); }, "memory_bytes");
  ExpectRefused([](auto& r) { r.set_cpu_count(100000); }, "cpu_count");
  // A node without a memory limit bounds none.
  bounds_.set_max_memory_bytes(0);
  internal::LaunchRequest big = good_;
  big.set_memory_bytes(1ULL << 50);
  EXPECT_TRUE(CheckLaunchRequest(bounds_, big).ok()) << CheckLaunchRequest(bounds_, big).message();
}

TEST_F(LaunchBoundsTest, BoundsThemselvesMustHoldNoRootAndNoBareSlash) {
  internal::LaunchBounds bounds = bounds_;
  bounds.set_uid_first(0);
  EXPECT_FALSE(CheckLaunchBounds(bounds).ok());
  bounds = bounds_;
  bounds.set_uid_first(0xFFFFFFF0U);
  EXPECT_FALSE(CheckLaunchBounds(bounds).ok());
  bounds = bounds_;
  bounds.set_artifacts_dir("/");
  EXPECT_FALSE(CheckLaunchBounds(bounds).ok());
  bounds = bounds_;
  bounds.set_images_dir("relative/images");
  EXPECT_FALSE(CheckLaunchBounds(bounds).ok());
  bounds = bounds_;
  bounds.add_cgroup_dirs("/sys/fs/cgroup/../../etc");
  EXPECT_FALSE(CheckLaunchBounds(bounds).ok());
  bounds = bounds_;
  bounds.add_cgroup_dirs("/");
  EXPECT_FALSE(CheckLaunchBounds(bounds).ok());
}

TEST_F(LaunchBoundsTest, APidIsWrittenOnlyIntoACgroupFilesystem) {
  const std::string file = root_ + "/outside/cgroup.procs";
  std::ofstream(file) << "untouched";
  internal::LaunchRequest request;
  request.add_cgroup_procs(file);
  const Status status = EnterCgroups(::getpid(), request);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("not on a cgroup filesystem"), std::string::npos)
      << status.message();
  std::ifstream in(file);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "untouched");
}

}  // namespace
}  // namespace sandboxd

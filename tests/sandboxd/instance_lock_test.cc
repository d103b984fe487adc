// Two daemons on one host must not share a cgroup group, a socket or sandbox uids: the claim
// files of instance_lock.cc, held by live processes (forked children here) and dropped with them.
#include "instance_lock.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace sandboxd {
namespace {

namespace fs = std::filesystem;

class InstanceLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sandboxd-lock-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override {
    if (holder_ > 0) {
      ::kill(holder_, SIGKILL);
      ::waitpid(holder_, nullptr, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static InstanceClaim Claim(const std::string& cgroup, std::uint32_t first, std::uint32_t count,
                             const std::string& socket) {
    return {.cgroup = cgroup, .uid_first = first, .uid_count = count, .socket = socket};
  }
  // A live "daemon": a child that holds `claim` until it is killed.
  void Hold(const InstanceClaim& claim) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    holder_ = ::fork();
    if (holder_ == 0) {
      auto lock = InstanceLock::Acquire(dir_, claim);
      const char c = lock.ok() ? 'y' : 'n';
      [[maybe_unused]] ssize_t n = ::write(ready[1], &c, 1);
      ::pause();
      ::_exit(0);
    }
    ::close(ready[1]);
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);
    ASSERT_EQ(c, 'y');
  }
  std::string dir_;
  pid_t holder_ = -1;
};

TEST_F(InstanceLockTest, ALiveClaimRefusesTheSameGroupSocketOrOverlappingUids) {
  Hold(Claim("cgroup v1 at /sys/fs/cgroup/memory/sandboxd", 1000, 32, "/run/a.sock"));
  auto same_group = InstanceLock::Acquire(
      dir_, Claim("cgroup v1 at /sys/fs/cgroup/memory/sandboxd", 5000, 32, "/run/b.sock"));
  ASSERT_FALSE(same_group.ok());
  EXPECT_NE(same_group.status().message().find("pid " + std::to_string(holder_)), std::string::npos)
      << same_group.status().message();
  EXPECT_NE(same_group.status().message().find("--cgroup-v1-group"), std::string::npos);

  auto same_socket = InstanceLock::Acquire(dir_, Claim("other", 5000, 32, "/run/a.sock"));
  ASSERT_FALSE(same_socket.ok());
  EXPECT_NE(same_socket.status().message().find("listens on /run/a.sock"), std::string::npos);

  auto overlapping = InstanceLock::Acquire(dir_, Claim("other", 1031, 32, "/run/b.sock"));
  ASSERT_FALSE(overlapping.ok());
  EXPECT_NE(overlapping.status().message().find("1000..1031"), std::string::npos)
      << overlapping.status().message();

  // Beside it, apart in every respect: fine.
  auto apart = InstanceLock::Acquire(dir_, Claim("other", 1032, 32, "/run/b.sock"));
  EXPECT_TRUE(apart.ok()) << apart.status().ToString();
}

TEST_F(InstanceLockTest, ADeadDaemonsClaimIsTakenOverAndRemoved) {
  const auto claim = Claim("cgroup v1 at g", 1000, 32, "/run/a.sock");
  Hold(claim);
  const fs::path held = fs::path(dir_) / (std::to_string(holder_) + ".claim");
  EXPECT_TRUE(fs::exists(held));
  ::kill(holder_, SIGKILL);  // a crash: no destructor runs, the kernel drops the lock
  ::waitpid(holder_, nullptr, 0);
  holder_ = -1;
  {
    auto again = InstanceLock::Acquire(dir_, claim);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_FALSE(fs::exists(held)) << "the dead daemon's claim was left behind";
    EXPECT_TRUE(fs::exists(fs::path(dir_) / (std::to_string(::getpid()) + ".claim")));
  }
  // A daemon that ends cleanly takes its claim with it.
  EXPECT_FALSE(fs::exists(fs::path(dir_) / (std::to_string(::getpid()) + ".claim")));
}

}  // namespace
}  // namespace sandboxd

// The daemon's drop from root to its user (privilege_drop.h): whom it refuses to drop to, the
// folders it gives to the user, and the drop itself in a forked child (one thread, like the
// daemon at that point): every id the user's, no capability, no_new_privs, no way back to root,
// and a parent-death signal that survives the credential change.
#include "privilege_drop.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

namespace sandboxd {
namespace {

namespace fs = std::filesystem;

// `nobody` exists on every system these tests run on; it is not root's.
StatusOr<DaemonUser> Nobody() { return LookUpDaemonUser("nobody"); }

// Runs `body` in a forked child (one thread, as the daemon has when it drops) and returns the
// text it reported; "child did not report" if it died before it did.
std::string ReportOfChild(const std::function<std::string()>& body) {
  int report[2];
  if (::pipe(report) != 0) return "pipe failed";
  const pid_t child = ::fork();
  if (child < 0) return "fork failed";
  if (child == 0) {
    ::close(report[0]);
    const std::string text = body();
    (void)!::write(report[1], text.data(), text.size());
    ::_exit(0);
  }
  ::close(report[1]);
  std::string text;
  char buf[512];
  for (ssize_t n; (n = ::read(report[0], buf, sizeof buf)) > 0;) text.append(buf, n);
  ::close(report[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  return text.empty() ? "child did not report" : text;
}

TEST(PrivilegeDropTest, RootAndUnknownUsersAreRefused) {
  const auto root = LookUpDaemonUser("root");
  ASSERT_FALSE(root.ok());
  EXPECT_NE(root.status().message().find("uid or gid 0"), std::string::npos)
      << root.status().message();
  EXPECT_FALSE(LookUpDaemonUser("no-such-user-sandboxd-test").ok());
  EXPECT_FALSE(LookUpDaemonUser("").ok());
  EXPECT_FALSE(DropPrivileges(DaemonUser{"root", 0, 0}).ok());
  const auto nobody = Nobody();
  ASSERT_TRUE(nobody.ok()) << nobody.status().message();
  EXPECT_NE(nobody->uid, 0U);
}

TEST(PrivilegeDropTest, AFolderIsGivenWholeAndSymlinksAreNotFollowed) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to change owners";
  const auto nobody = Nobody();
  ASSERT_TRUE(nobody.ok());
  char tmpl[] = "/tmp/privilege-drop-XXXXXX";
  const std::string root = ::mkdtemp(tmpl);
  fs::create_directories(root + "/given/a/b");
  std::ofstream(root + "/given/a/b/file") << "x";
  std::ofstream(root + "/outside") << "x";
  fs::create_symlink(root + "/outside", root + "/given/a/link");
  ASSERT_TRUE(GiveToUser(root + "/given", *nobody).ok());
  for (const char* path :
       {"/given", "/given/a", "/given/a/b", "/given/a/b/file", "/given/a/link"}) {
    struct stat st {};
    ASSERT_EQ(::lstat((root + path).c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_uid, nobody->uid) << path;
    EXPECT_EQ(st.st_gid, nobody->gid) << path;
  }
  struct stat outside {};
  ASSERT_EQ(::stat((root + "/outside").c_str(), &outside), 0);
  EXPECT_EQ(outside.st_uid, 0U) << "the symlink's target was given away";
  fs::remove_all(root);
}

TEST(PrivilegeDropTest, TheDroppedProcessHasTheUsersIdsNoCapabilityAndItsDeathSignal) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop from";
  const auto nobody = Nobody();
  ASSERT_TRUE(nobody.ok());
  const std::string text = ReportOfChild([&] {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    Status dropped = DropPrivileges(*nobody);
    int signal = 0;
    ::prctl(PR_GET_PDEATHSIG, &signal, 0, 0, 0);
    std::string said = dropped.ok() ? "ok" : dropped.message();
    if (dropped.ok() && signal != SIGKILL) said = "the parent-death signal was not set again";
    if (dropped.ok() && ::setuid(0) == 0) said = "setuid(0) worked after the drop";
    if (dropped.ok() && ::access("/proc/1/root/.", R_OK) == 0)
      said = "the dropped process still reads pid 1's root";
    return said;
  });
  EXPECT_EQ(text, "ok");
}

TEST(PrivilegeDropTest, ADropWithASecondThreadIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop from";
  const auto nobody = Nobody();
  ASSERT_TRUE(nobody.ok());
  // gtest's process may have helper threads; a fresh thread makes sure there are two.
  const std::string text = ReportOfChild([&] {
    int hold[2];
    if (::pipe(hold) != 0) return std::string("pipe failed");
    std::thread waiter([&] {
      char c;
      (void)!::read(hold[0], &c, 1);
    });
    const Status dropped = DropPrivileges(*nobody);
    ::close(hold[1]);
    waiter.join();
    return dropped.ok() ? std::string("dropped") : dropped.message();
  });
  EXPECT_NE(text.find("before its threads start"), std::string::npos) << text;
}

}  // namespace
}  // namespace sandboxd
